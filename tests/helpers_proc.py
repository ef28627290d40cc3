"""Real child processes for the fault and concurrency tests: start, synchronize, wait, kill.

Children are `sys.executable -c CODE` processes (never forks of the test process), with their
output in files rather than pipes, so that a child blocked on a full pipe can never hold a
database lock while the test waits on another child. Every wait has a deadline.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")
DEADLINE_S = 30.0
GATE_ENV = "TEST_START_GATE"

# Child code: `announce(path, text)` publishes a value atomically (write, then rename), and
# `wait_at_gate()` registers the child as ready and blocks until the test opens the gate.
PRELUDE = """
import os as _os
import sys as _sys
import time as _time


def announce(path, text=""):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        handle.write(str(text))
    _os.replace(tmp, path)


def wait_at_gate():
    gate = _os.environ["TEST_START_GATE"]
    announce(_os.path.join(gate, f"ready-{_os.getpid()}"))
    until = _time.monotonic() + 60
    while not _os.path.exists(_os.path.join(gate, "go")):
        if _time.monotonic() > until:
            raise SystemExit("the start gate never opened")
        _time.sleep(0.002)
"""


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any LOOPML_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclasses.dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait(self, timeout: float = DEADLINE_S) -> int:
        """The exit code (negative: killed by that signal); fails the test past the deadline."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"child {self.name} did not exit within {timeout:g} s\n{self.describe()}")

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE_S)

    def describe(self) -> str:
        return (
            f"--- {self.name} (pid {self.pid}, exit {self.proc.poll()}) stdout:\n{self.stdout}"
            f"--- stderr:\n{self.stderr}"
        )


def spawn(
    code: str,
    *,
    name: str,
    cwd: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> Child:
    """Start `python -c PRELUDE+code args...`; stdout and stderr go to files in `log_dir`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    source = PRELUDE + textwrap.dedent(code)
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", source, *map(str, args)],
            cwd=cwd,
            env=dict(env) if env is not None else child_env(),
            stdout=out,
            stderr=err,
        )
    return Child(name, proc, out_path, err_path)


def run_python(
    code: str,
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    timeout: float = DEADLINE_S,
) -> subprocess.CompletedProcess[str]:
    """Run a child to completion and return its exit code and output."""
    try:
        return subprocess.run(
            [sys.executable, "-c", PRELUDE + textwrap.dedent(code), *map(str, args)],
            cwd=cwd,
            env=dict(env) if env is not None else child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"child did not finish within {timeout:g} s; stderr:\n{exc.stderr!r}")


def wait_for(
    probe: Callable[[], T],
    what: str,
    *,
    timeout: float = DEADLINE_S,
    interval: float = 0.01,
    children: Iterable[Child] = (),
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` past the deadline.

    A child in `children` that exits early fails the test at once with its output.
    """
    watched = list(children)
    until = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        for child in watched:
            if child.proc.poll() is not None:
                pytest.fail(f"child exited while waiting for {what}\n{child.describe()}")
        if time.monotonic() > until:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def read_announced(path: Path, what: str, children: Iterable[Child] = ()) -> str:
    """Wait for a child to `announce(path, text)` and return the text."""
    wait_for(path.exists, what, children=children)
    return path.read_text()


def open_gate(gate: Path, children: Sequence[Child]) -> None:
    """Wait until every child waits at the gate, then release them all at once."""
    wait_for(
        lambda: len(list(gate.glob("ready-*"))) >= len(children) or None,
        f"{len(children)} children at the start gate",
        children=children,
    )
    (gate / "go").touch()


def wait_all(children: Sequence[Child], timeout: float = 2 * DEADLINE_S) -> list[int]:
    until = time.monotonic() + timeout
    try:
        return [child.wait(max(0.1, until - time.monotonic())) for child in children]
    finally:
        kill_all(children)


def kill_all(children: Iterable[Child]) -> None:
    """SIGKILL whatever of `children` is still running (cleanup; only our own children)."""
    for child in children:
        child.kill()


SIGTERM_EXIT = 128 + signal.SIGTERM
