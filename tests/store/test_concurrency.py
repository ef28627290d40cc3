"""Many real processes writing to one store at once, and racing to create a fresh store.

Children are separate interpreters (`python -c`), released together through a start gate so
that they really contend for the SQLite write lock, PostgreSQL rows and the migration lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.core.config import WorkspaceConfig
from loopml.core.entities import RunStatus
from loopml.store.sql.migrate import HEAD_REVISION
from loopml.workspace import Workspace
from tests.helpers_proc import GATE_ENV, Child, child_env, open_gate, spawn, wait_all

pytestmark = pytest.mark.slow

WRITERS = 8
POINTS = 2_000
FLUSH_EVERY = 100
OFFSET = 100_000  # writer k logs k * OFFSET + i at step i, so mixed-up runs would show

# argv: writer index, points, flush period, value offset. The store comes from the cwd or the
# environment.
WRITER = """
import sys

import loopml
from loopml.tracking.capture import capture_environment
from loopml.workspace import Workspace

index, points, flush_every, offset = (int(a) for a in sys.argv[1:5])
capture_environment()  # warm the per-process cache so that the gate releases only store work
wait_at_gate()
ws = Workspace.open()
with loopml.start_run(project="conc", name=f"writer-{index}", workspace=ws) as run:
    started = _time.time()
    for i in range(points):
        run.log_metric("m", float(index * offset + i), step=i)
        if i % flush_every == flush_every - 1:
            run.flush()
print(run.id, started, _time.time(), flush=True)
ws.close()
"""

# Opens a store that does not exist yet (argv[1] == "init": create the SQLite workspace here),
# then writes to it.
OPENER = """
import sys

from loopml.workspace import Workspace
import loopml.store.sql.store  # noqa: F401  (imports done before the race)
import alembic.command  # noqa: F401

wait_at_gate()
ws = Workspace.init() if sys.argv[1] == "init" else Workspace.open()
run = ws.store.runs.create("race", f"opener-{_os.getpid()}")
print(run.id, flush=True)
ws.close()
"""


def _problems(children: list[Child], codes: list[int]) -> list[str]:
    problems = []
    for child, code in zip(children, codes, strict=True):
        err = child.stderr
        if code != 0 or "locked" in err.lower() or "Traceback" in err:
            problems.append(child.describe())
    return problems


def _run_writers(tmp_path: Path, cwd: Path, env: dict[str, str]) -> list[str]:
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {**env, GATE_ENV: str(gate)}
    children = []
    try:
        for index in range(WRITERS):
            children.append(
                spawn(
                    WRITER,
                    name=f"writer-{index}",
                    cwd=cwd,
                    log_dir=tmp_path / "logs",
                    env=env,
                    args=[str(index), str(POINTS), str(FLUSH_EVERY), str(OFFSET)],
                )
            )
        open_gate(gate, children)
        codes = wait_all(children, timeout=90)
    finally:
        for child in children:
            child.kill()
    problems = _problems(children, codes)
    assert not problems, "writers failed or reported lock errors:\n" + "\n".join(problems)
    lines = [child.stdout.split() for child in children]
    # The point is contention: check that several writers were writing at one same moment
    # (typically 5 to 8 of them on two CPUs).
    intervals = [(float(line[1]), float(line[2])) for line in lines]
    assert _peak_overlap(intervals) >= 3, f"writers hardly overlapped: {intervals}"
    return [line[0] for line in lines]


def _peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that contain one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = current = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def _check_points(ws: Workspace, run_ids: list[str]) -> None:
    assert len(set(run_ids)) == WRITERS, run_ids
    total = 0
    for run_id in run_ids:
        run = ws.store.runs.get(run_id)
        assert run.status is RunStatus.FINISHED, (run.status, run.error)
        index = int(run.name.removeprefix("writer-"))
        history = ws.store.runs.metric_history(run_id, "m")
        total += len(history)
        assert [p.step for p in history] == list(range(POINTS)), f"steps of {run.name}"
        assert [p.value for p in history] == [float(index * OFFSET + i) for i in range(POINTS)]
        assert run.metrics["m"] == float(index * OFFSET + POINTS - 1)
    assert total == WRITERS * POINTS
    assert {r.id for r in ws.store.runs.search(["conc"], limit=100)} == set(run_ids)


def _alembic_rows(uri: str) -> list[str]:
    engine = sa.create_engine(uri)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


@pytest.fixture
def pg_config(postgres_uri: str, tmp_path: Path) -> WorkspaceConfig:
    return WorkspaceConfig(
        root=None, store_uri=postgres_uri, artifact_uri=str(tmp_path / "pg-artifacts")
    )


@pytest.fixture
def pg_workspace(pg_config: WorkspaceConfig) -> Iterator[Workspace]:
    ws = Workspace.from_config(pg_config)  # migrated here; the writers only write
    yield ws
    ws.close()


def _pg_env(config: WorkspaceConfig) -> dict[str, str]:
    return child_env(
        {"LOOPML_STORE_URI": config.store_uri, "LOOPML_ARTIFACT_URI": config.artifact_uri}
    )


# -- many writers ----------------------------------------------------------------------------
def test_eight_processes_write_metrics_to_one_sqlite_workspace(
    workspace: Workspace, tmp_path: Path
) -> None:
    run_ids = _run_writers(tmp_path, cwd=tmp_path, env=child_env())
    _check_points(workspace, run_ids)


@pytest.mark.postgres
def test_eight_processes_write_metrics_to_one_postgres_store(
    pg_workspace: Workspace, pg_config: WorkspaceConfig, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "no-workspace-here"
    elsewhere.mkdir()
    run_ids = _run_writers(tmp_path, cwd=elsewhere, env=_pg_env(pg_config))
    _check_points(pg_workspace, run_ids)


# -- racing to create a store ----------------------------------------------------------------
OPENERS = 4


def _race_openers(tmp_path: Path, cwd: Path, env: dict[str, str], mode: str) -> list[str]:
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {**env, GATE_ENV: str(gate)}
    children = [
        spawn(OPENER, name=f"opener-{i}", cwd=cwd, log_dir=tmp_path / "logs", env=env, args=[mode])
        for i in range(OPENERS)
    ]
    try:
        open_gate(gate, children)
        codes = wait_all(children)
    finally:
        for child in children:
            child.kill()
    problems = _problems(children, codes)
    assert not problems, "processes opening a fresh store failed:\n" + "\n".join(problems)
    return [child.stdout.strip() for child in children]


def _check_race_outcome(ws: Workspace, uri: str, run_ids: list[str]) -> None:
    assert _alembic_rows(uri) == [HEAD_REVISION]
    assert [p.name for p in ws.store.projects.list()] == ["race"]
    assert len(set(run_ids)) == OPENERS
    assert {r.id for r in ws.store.runs.search(["race"])} == set(run_ids)


def test_processes_racing_to_create_a_sqlite_workspace(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    run_ids = _race_openers(tmp_path, cwd=root, env=child_env(), mode="init")
    db = root / ".loopml" / "loopml.db"
    assert db.is_file()
    ws = Workspace.open(root)
    try:
        _check_race_outcome(ws, f"sqlite:///{db}", run_ids)
    finally:
        ws.close()


@pytest.mark.postgres
def test_processes_racing_to_migrate_a_fresh_postgres_schema(
    pg_config: WorkspaceConfig, tmp_path: Path
) -> None:
    assert _alembic_rows_or_none(pg_config.store_uri) is None  # the schema starts empty
    elsewhere = tmp_path / "no-workspace-here"
    elsewhere.mkdir()
    run_ids = _race_openers(tmp_path, cwd=elsewhere, env=_pg_env(pg_config), mode="open")
    ws = Workspace.from_config(pg_config)
    try:
        _check_race_outcome(ws, pg_config.store_uri, run_ids)
    finally:
        ws.close()


def _alembic_rows_or_none(uri: str) -> list[str] | None:
    engine = sa.create_engine(uri)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
        return _alembic_rows(uri)
    finally:
        engine.dispose()
