"""Ctrl-C and SIGTERM cancel running steps and record them KILLED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from loopml.workspace import Workspace

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _start(tmp_path: Path, executor: str) -> subprocess.Popen[bytes]:
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from tests.pipelines import sample
            sample.sleepy.run(seconds=60, executor={executor!r})
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=env, preexec_fn=_default_sigint
    )


def _default_sigint() -> None:
    """In the child before it runs: SIGINT back to its default. pytest started in the
    background from a shell inherits SIGINT ignored, and so would the child (an ignored
    SIGINT stays ignored across exec, and Python then installs no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_running_step(workspace: Workspace) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = workspace.store.runs.search(
            filter="tags.loopml.node = 'slow' and status = 'RUNNING'"
        )
        if found:
            return
        time.sleep(0.1)
    raise AssertionError("the step never started")


@pytest.mark.parametrize(
    ("executor", "sig"),
    [("local", signal.SIGINT), ("process", signal.SIGTERM), ("process", signal.SIGINT)],
)
def test_signal_kills_pipeline_and_running_step(tmp_path: Path, executor: str, sig: int) -> None:
    workspace = Workspace.init(tmp_path)
    process = _start(tmp_path, executor)
    try:
        _wait_for_running_step(workspace)
        process.send_signal(sig)
        process.wait(timeout=60)
    finally:
        process.kill()
    assert process.returncode != 0
    runs = {r.tags.get("loopml.node", "pipeline"): r for r in workspace.store.runs.search()}
    assert runs["pipeline"].status == "KILLED"
    assert runs["slow"].status == "KILLED"
