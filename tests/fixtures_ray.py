"""A real Ray cluster for the tests: `ray start --head --block` with 2 CPUs, on loopback.

Every port is a free one (another Ray on the machine is left alone), and the cluster is
stopped by signalling the `ray start` process it came from, which stops the processes it
started (`ray stop` would stop every Ray of this user on the machine).

Token authentication is pinned off, for the cluster and for this process. Ray 2.x turns it on
for a `ray start` whenever ~/.ray/auth_token exists (which any local `ray.init()` writes, and
which outlives its run), but a driver connecting by explicit address never turns it on by
itself: a token file left by another run made the cluster ask for a token the driver did not
send (`InvalidAuthToken` connecting to the GCS). The cluster is on loopback, and ours alone.
Any Ray address in the environment is replaced by this cluster's, so a `ray.init()` without
one reaches this cluster, never one left over from another run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.ports import free_ports

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
READY_LINE = "Ray runtime started"
PORT_OPTIONS = (
    "port",
    "ray-client-server-port",
    "node-manager-port",
    "object-manager-port",
    "metrics-export-port",
    "dashboard-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
)
# Ray turns 127.0.0.1 into the machine's address so that other nodes can reach it, unless
# clusters are "disabled" (its switch for laptops); on one machine that keeps it on loopback.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
# The same authentication mode on both sides, whatever files and variables are around.
AUTH_ENV = {"RAY_AUTH_MODE": "disabled"}
AUTH_VARIABLES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


@dataclasses.dataclass(frozen=True)
class RayCluster:
    address: str
    temp_dir: Path


def ray_binary() -> str | None:
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else shutil.which("ray")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    binary = ray_binary() if importlib.util.find_spec("ray") else None
    if binary is None:
        require(
            "Ray", "no ray module or `ray` command: pip install 'loopml[ray]' (in the dev extra)"
        )
    # A short folder: Ray puts unix sockets under it, whose paths may not exceed 107 bytes.
    temp_dir = Path(tempfile.mkdtemp(prefix="loopml-ray-"))
    ports = dict(zip(PORT_OPTIONS, free_ports(len(PORT_OPTIONS)), strict=True))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LOOPML_") and k not in ("RAY_ADDRESS", *AUTH_VARIABLES)
    }
    env.update(LOOPBACK_ENV)
    env.update(AUTH_ENV)
    args = [
        str(binary),
        "start",
        "--head",
        "--block",
        "--num-cpus=2",
        "--node-ip-address=127.0.0.1",
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--object-store-memory=200000000",
        f"--temp-dir={temp_dir}",
        *(f"--{option}={port}" for option, port in ports.items()),
    ]
    log = temp_dir / "ray-start.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args,
            cwd=temp_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    patch = pytest.MonkeyPatch()
    try:
        _wait_ready(process, log)
        address = f"127.0.0.1:{ports['port']}"
        _loopback_driver(patch, address)
        yield RayCluster(address, temp_dir)
    finally:
        patch.undo()
        _stop(process)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _loopback_driver(patch: pytest.MonkeyPatch, address: str) -> None:
    """This process connects as a driver: it must not turn 127.0.0.1 into another address
    either (Ray reads the switch when first imported, so set it on the module if it is), it
    uses the cluster's authentication mode, and a `ray.init()` without an address joins
    this cluster."""
    for name, value in {**LOOPBACK_ENV, **AUTH_ENV, "RAY_ADDRESS": address}.items():
        patch.setenv(name, value)
    for name in AUTH_VARIABLES:
        patch.delenv(name, raising=False)
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:
        patch.setattr(constants, "ENABLE_RAY_CLUSTER", False)


def _wait_ready(process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if READY_LINE in text:
            return
        if process.poll() is not None:
            pytest.fail(f"ray start exited with {process.returncode}:\n{_tail(text)}")
        time.sleep(0.2)
    pytest.fail(f"Ray not started after {START_TIMEOUT_S:.0f} s:\n{_tail(log.read_text())}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to `ray start --block` stops what it started; then anything left of its
    process group (ours: it was started in a session of its own) is killed."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_TIMEOUT_S)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])
