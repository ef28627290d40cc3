"""How runs end when their process does: kill -9 (mid-artifact and idle), SIGTERM, Ctrl-C,
exceptions, and plain interpreter exit. Real child processes and real signals, no mocks.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import loopml
from loopml.artifacts.blobs import CHUNK
from loopml.artifacts.hashing import digest_file
from loopml.core.entities import Run, RunStatus
from loopml.workspace import Workspace
from tests.helpers_proc import (
    SIGTERM_EXIT,
    Child,
    child_env,
    read_announced,
    run_python,
    spawn,
    wait_for,
)

BIG_MB = 300

# argv: run-id file, stop file, "with" | "plain". Starts a run, logs one point, publishes the
# run id, then waits (bounded) for the stop file. SIGINT raises KeyboardInterrupt even when
# the test runner was started with SIGINT ignored (as from a non-interactive shell).
HOLDER = """
import signal
import sys

import loopml

signal.signal(signal.SIGINT, signal.default_int_handler)
run_file, stop_file, style = sys.argv[1:4]


def hold(run):
    run.log_metric("x", 1.0, step=0)
    announce(run_file, run.id)
    until = _time.monotonic() + 30
    while not _os.path.exists(stop_file):
        if _time.monotonic() > until:
            raise SystemExit("never told to stop")
        _time.sleep(0.02)


if style == "with":
    with loopml.start_run(project="faults") as run:
        hold(run)
else:
    run = loopml.start_run(project="faults")
    hold(run)
"""

# argv: run-id file, big file, done file.
BIG_ARTIFACT = """
import sys
from pathlib import Path

import loopml

run = loopml.start_run(project="faults", name="big")
announce(sys.argv[1], run.id)
run.log_artifact("big", Path(sys.argv[2]))
announce(sys.argv[3], "logged")
_time.sleep(30)
"""

OPEN_WORKSPACE = """
from loopml.workspace import Workspace

Workspace.open().close()
"""


# -- helpers ---------------------------------------------------------------------------------
def _hold(tmp_path: Path, style: str, env: dict[str, str] | None = None) -> tuple[Child, str, Path]:
    """A child holding a run open; returns it, the run id, and the file that stops it."""
    run_file, stop_file = tmp_path / f"run-{style}.id", tmp_path / f"stop-{style}"
    child = spawn(
        HOLDER,
        name=f"holder-{style}",
        cwd=tmp_path,
        log_dir=tmp_path / "logs",
        env=env,
        args=[str(run_file), str(stop_file), style],
    )
    return child, read_announced(run_file, "the child's run id", [child]), stop_file


def _open_store_in_new_process(cwd: Path, heartbeat_timeout: str | None = None) -> None:
    extra = {"LOOPML_HEARTBEAT_TIMEOUT": heartbeat_timeout} if heartbeat_timeout else {}
    done = run_python(OPEN_WORKSPACE, cwd=cwd, env=child_env(extra))
    assert done.returncode == 0, done.stderr


def _sleep_past_heartbeat(run: Run, timeout: float) -> None:
    """Sleep until the run's last heartbeat is older than `timeout` (plus a margin)."""
    assert run.heartbeat_time is not None
    due = run.heartbeat_time.timestamp() + timeout + 0.3
    remaining = due - datetime.now(UTC).timestamp()
    assert remaining < 30, f"heartbeat {run.heartbeat_time} is in the future"
    if remaining > 0:
        time.sleep(remaining)


def _misnamed_blobs(artifact_root: Path) -> list[str]:
    """Blobs whose bytes do not hash to the digest that names them (partial or corrupt)."""
    bad = []
    for path in sorted((artifact_root / "blobs").rglob("*")):
        if path.is_file() and digest_file(path) != path.parent.name + path.name:
            bad.append(f"{path} ({path.stat().st_size} bytes)")
    return bad


def _large_temp_files(tmp_dir: Path) -> list[Path]:
    found = []
    for path in tmp_dir.glob("blob-*"):
        try:
            if path.stat().st_size >= CHUNK:
                found.append(path)
        except FileNotFoundError:  # renamed into place between listing and stat
            pass
    return found


def _write_big_file(path: Path, megabytes: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as out:
        for i in range(megabytes):
            out.write(block)
            out.write(i.to_bytes(4, "big"))  # no two megabytes alike


# -- kill -9 ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_kill_9_while_writing_a_large_artifact_leaves_no_partial_blob(
    workspace: Workspace, tmp_path: Path
) -> None:
    artifact_root = tmp_path / ".loopml" / "artifacts"
    big = tmp_path / "data" / "big.bin"
    big.parent.mkdir()
    _write_big_file(big, BIG_MB)
    big_digest = digest_file(big)
    run_file, done_file = tmp_path / "run.id", tmp_path / "done"
    child = spawn(
        BIG_ARTIFACT,
        name="big-artifact",
        cwd=tmp_path,
        log_dir=tmp_path / "logs",
        args=[str(run_file), str(big), str(done_file)],
    )
    try:
        run_id = read_announced(run_file, "the child's run id", [child])
        wait_for(
            lambda: _large_temp_files(artifact_root / "tmp"),
            "the artifact write to begin",
            interval=0.001,
            children=[child],
        )
        child.signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
        # Preconditions: the kill really landed mid-write.
        assert not done_file.exists(), "the artifact was logged before the kill; use a larger file"
        assert _large_temp_files(artifact_root / "tmp"), "the write had finished before the kill"

        assert _misnamed_blobs(artifact_root) == []
        assert not workspace.artifacts.has(big_digest)
        run = workspace.store.runs.get(run_id)
        assert run.status is RunStatus.RUNNING  # nothing has noticed yet
        assert workspace.store.runs.artifacts(run_id) == []

        # The next process to open the store, once the heartbeat is stale, fails the run.
        _sleep_past_heartbeat(run, 1.5)
        _open_store_in_new_process(tmp_path, heartbeat_timeout="1.5")
        run = workspace.store.runs.get(run_id)
        assert run.status is RunStatus.FAILED
        assert "heartbeat" in (run.error or "").lower(), run.error
        assert run.end_time is not None
        assert workspace.store.runs.artifacts(run_id) == []

        # The interrupted write does not block storing the same bytes again.
        with loopml.start_run(project="faults", workspace=workspace) as again:
            ref = again.log_artifact("big", big)
        assert ref.digest == big_digest
        assert workspace.artifacts.has(big_digest)
        assert _misnamed_blobs(artifact_root) == []
    finally:
        child.kill()
        big.unlink(missing_ok=True)
        for path in [
            *(artifact_root / "tmp").glob("blob-*"),
            *(artifact_root / "blobs").rglob("*"),
        ]:
            if path.is_file() and path.stat().st_size >= CHUNK:
                path.unlink()


@pytest.mark.slow
def test_kill_9_of_an_idle_run_is_failed_by_the_next_open_after_the_timeout(
    workspace: Workspace, tmp_path: Path
) -> None:
    child, run_id, _ = _hold(tmp_path, "plain")
    try:
        child.signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
    finally:
        child.kill()
    # Within the (default, long) timeout, opening the store leaves the run alone.
    _open_store_in_new_process(tmp_path)
    run = workspace.store.runs.get(run_id)
    assert run.status is RunStatus.RUNNING

    _sleep_past_heartbeat(run, 1.0)
    _open_store_in_new_process(tmp_path, heartbeat_timeout="1.0")
    run = workspace.store.runs.get(run_id)
    assert run.status is RunStatus.FAILED
    assert "heartbeat" in (run.error or "").lower(), run.error
    assert run.end_time is not None
    assert [(m.step, m.value) for m in workspace.store.runs.metric_history(run_id, "x")] in (
        [],
        [(0, 1.0)],
    )


LIVE_TIMEOUT = 1.2

# Opens the store again and again for `seconds`, as other processes would, with a short
# heartbeat timeout; prints the status of the watched run after each open.
REOPEN = """
import sys

from loopml.workspace import Workspace

run_id, seconds = sys.argv[1], float(sys.argv[2])
until = _time.monotonic() + seconds
while _time.monotonic() < until:
    ws = Workspace.open()
    print(ws.store.runs.get(run_id).status.value, flush=True)
    ws.close()
    _time.sleep(0.05)
"""


@pytest.mark.slow
def test_a_live_process_keeps_its_run_from_being_failed(
    workspace: Workspace, tmp_path: Path
) -> None:
    env = child_env({"LOOPML_HEARTBEAT_TIMEOUT": str(LIVE_TIMEOUT)})
    child, run_id, stop = _hold(tmp_path, "with", env=env)
    try:
        watched = run_python(REOPEN, cwd=tmp_path, env=env, args=[run_id, str(3 * LIVE_TIMEOUT)])
        assert watched.returncode == 0, watched.stderr
        statuses = watched.stdout.split()
        assert len(statuses) >= 5, statuses
        assert set(statuses) == {"RUNNING"}, statuses
        run = workspace.store.runs.get(run_id)
        assert run.status is RunStatus.RUNNING, run.error
        stop.touch()
        assert child.wait() == 0, child.describe()
    finally:
        child.kill()
    assert workspace.store.runs.get(run_id).status is RunStatus.FINISHED


@pytest.mark.slow
def test_heartbeat_of_a_live_run_refreshes_well_inside_the_timeout(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A run beats several times per timeout, so a short stall never fails a live process."""
    env = child_env({"LOOPML_HEARTBEAT_TIMEOUT": str(LIVE_TIMEOUT)})
    child, run_id, stop = _hold(tmp_path, "with", env=env)
    beats: list[datetime] = []
    try:
        until = time.monotonic() + 3 * LIVE_TIMEOUT
        while time.monotonic() < until:
            beat = workspace.store.runs.get(run_id).heartbeat_time
            assert beat is not None
            if not beats or beat != beats[-1]:
                beats.append(beat)
            time.sleep(0.02)
        stop.touch()
        assert child.wait() == 0, child.describe()
    finally:
        child.kill()
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(beats)]
    assert len(gaps) >= 2, f"the heartbeat hardly moved in {3 * LIVE_TIMEOUT:g} s: {beats}"
    # The cadence, not one stall: a commit that runs SQLite's checkpoint can wait a second on
    # a busy disk (seen once in a loaded full run), which no beat interval prevents.
    regular = sorted(gaps)[len(gaps) // 2]
    assert regular <= LIVE_TIMEOUT / 3 and sum(g > LIVE_TIMEOUT / 2 for g in gaps) <= 1, (
        f"heartbeats {gaps} s apart with a {LIVE_TIMEOUT} s timeout (expected about every "
        f"{LIVE_TIMEOUT / 4:g} s): a live run is one short stall away from being failed"
    )


# -- signals ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("style", ["with", "plain"])
def test_sigterm_kills_the_run_and_exits_143(
    workspace: Workspace, tmp_path: Path, style: str
) -> None:
    child, run_id, _ = _hold(tmp_path, style)
    try:
        child.signal(signal.SIGTERM)
        assert child.wait() == SIGTERM_EXIT, child.describe()
    finally:
        child.kill()
    run = workspace.store.runs.get(run_id)
    assert run.status is RunStatus.KILLED, (run.status, run.error)
    assert "SIGTERM" in (run.error or ""), run.error
    assert run.end_time is not None
    assert [(m.step, m.value) for m in workspace.store.runs.metric_history(run_id, "x")] == [
        (0, 1.0)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("style", ["with", "plain"])
def test_ctrl_c_kills_the_run(workspace: Workspace, tmp_path: Path, style: str) -> None:
    child, run_id, _ = _hold(tmp_path, style)
    try:
        child.signal(signal.SIGINT)
        # An uncaught KeyboardInterrupt ends Python by SIGINT (130 when a shell reports it).
        assert child.wait() in (-signal.SIGINT, 128 + signal.SIGINT), child.describe()
    finally:
        child.kill()
    assert "KeyboardInterrupt" in child.stderr
    run = workspace.store.runs.get(run_id)
    assert run.status is RunStatus.KILLED, (run.status, run.error)
    assert "KeyboardInterrupt" in (run.error or ""), run.error
    assert run.end_time is not None


# -- exits and exceptions --------------------------------------------------------------------
class _Boom(Exception):
    pass


@pytest.mark.parametrize(
    ("raised", "status", "error_part"),
    [
        (None, RunStatus.FINISHED, None),
        (ValueError("boom 42"), RunStatus.FAILED, "ValueError: boom 42"),
        (_Boom("custom failure"), RunStatus.FAILED, "_Boom: custom failure"),
        (KeyboardInterrupt(), RunStatus.KILLED, "KeyboardInterrupt"),
        (SystemExit(3), RunStatus.FAILED, "SystemExit(3)"),
        (SystemExit(0), RunStatus.FINISHED, None),
    ],
    ids=["normal", "exception", "custom-exception", "keyboard-interrupt", "exit-3", "exit-0"],
)
def test_the_way_out_of_a_with_block_sets_the_status(
    workspace: Workspace, raised: BaseException | None, status: RunStatus, error_part: str | None
) -> None:
    run_id = None
    try:
        with loopml.start_run(project="faults", workspace=workspace) as run:
            run_id = run.id
            run.log_metric("x", 3.0, step=1)
            if raised is not None:
                raise raised
    except BaseException as exc:
        assert exc is raised  # the run never swallows what left the block
    assert run_id is not None
    record = workspace.store.runs.get(run_id)
    assert record.status is status
    assert record.end_time is not None
    if error_part is None:
        assert record.error is None
    else:
        assert error_part in (record.error or ""), record.error
    assert record.metrics["x"] == 3.0


PLAIN_RUN_NEVER_ENDED = """
import loopml

run = loopml.start_run(project="faults")
print(run.id, flush=True)
run.log_metric("x", 2.5, step=7)  # still buffered when the interpreter exits
"""

PLAIN_RUN_UNCAUGHT = """
import loopml

run = loopml.start_run(project="faults")
print(run.id, flush=True)
run.log_metric("x", 2.5, step=7)
raise RuntimeError("top-level failure 7")
"""


@pytest.mark.slow
def test_a_plain_run_never_ended_finishes_at_interpreter_exit(
    workspace: Workspace, tmp_path: Path
) -> None:
    done = run_python(PLAIN_RUN_NEVER_ENDED, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = workspace.store.runs.get(done.stdout.strip())
    assert run.status is RunStatus.FINISHED
    assert run.error is None
    assert run.end_time is not None
    history = workspace.store.runs.metric_history(run.id, "x")
    assert [(m.step, m.value) for m in history] == [(7, 2.5)]


@pytest.mark.slow
def test_a_plain_run_with_an_uncaught_exception_fails(workspace: Workspace, tmp_path: Path) -> None:
    done = run_python(PLAIN_RUN_UNCAUGHT, cwd=tmp_path)
    assert done.returncode == 1
    assert "RuntimeError: top-level failure 7" in done.stderr  # the usual traceback still shows
    run = workspace.store.runs.get(done.stdout.strip())
    assert run.status is RunStatus.FAILED
    assert "RuntimeError: top-level failure 7" in (run.error or ""), run.error
    assert run.end_time is not None
    history = workspace.store.runs.metric_history(run.id, "x")
    assert [(m.step, m.value) for m in history] == [(7, 2.5)]
