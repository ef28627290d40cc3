"""Schema migrations: head matches the scripts, and upgrading keeps every record intact."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.store.sql import migrate
from loopml.store.sql.engine import create_engine
from loopml.store.sql.store import SqlMetadataStore


def test_head_constant_matches_scripts() -> None:
    assert migrate.script_head() == migrate.HEAD_REVISION


def _write_first_revision_records(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO projects VALUES ('p1', 'legacy', 1000)"))
        conn.execute(
            sa.text(
                "INSERT INTO runs (pk, id, project_id, name, status, start_ms, end_ms, "
                "heartbeat_ms) VALUES (7, 'r1', 'p1', 'old-run', 'FINISHED', 1000, 2000, 2000)"
            )
        )
        conn.execute(sa.text("INSERT INTO params VALUES (7, 'C', '0.5')"))
        conn.execute(sa.text("INSERT INTO tags VALUES (7, 'team', 'core')"))
        conn.execute(
            sa.text(
                "INSERT INTO metrics (run_pk, key, value, step, ts_ms) "
                "VALUES (7, 'acc', 0.8, 0, 1500)"
            )
        )
        conn.execute(sa.text("INSERT INTO latest_metrics VALUES (7, 'acc', 0.8, 0, 1500)"))
        conn.execute(
            sa.text("INSERT INTO run_artifacts VALUES (7, 'model', :d, 'bytes', 3, 1500)"),
            {"d": "a" * 64},
        )


def _check_upgrade_keeps_records(uri: str) -> None:
    engine = create_engine(uri)
    migrate.upgrade(engine, "0001")
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == "0001"
        assert not sa.inspect(conn).has_table("run_inputs")
    _write_first_revision_records(engine)
    engine.dispose()

    store = SqlMetadataStore(uri)  # upgrades to head on open
    with store.engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.HEAD_REVISION
    run = store.runs.get("r1")
    assert (run.project, run.name, run.status.value) == ("legacy", "old-run", "FINISHED")
    assert (
        run.params == {"C": "0.5"} and run.tags == {"team": "core"} and run.metrics == {"acc": 0.8}
    )
    assert [m.value for m in store.runs.metric_history("r1", "acc")] == [0.8]
    assert store.runs.get_artifact("r1", "model").digest == "a" * 64
    assert store.runs.inputs("r1") == []  # the new table works on old runs
    store.close()


def test_upgrade_from_first_revision_sqlite(tmp_path: Path) -> None:
    _check_upgrade_keeps_records(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
def test_upgrade_from_first_revision_postgres(postgres_uri: str) -> None:
    _check_upgrade_keeps_records(postgres_uri)


def test_open_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path / 'x.db'}"
    SqlMetadataStore(uri).close()
    code = (
        "import sys; from loopml.store.sql.store import SqlMetadataStore; "
        f"SqlMetadataStore({uri!r}).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_bad_store_uri() -> None:
    from loopml.core.errors import InvalidArgumentError
    from loopml.store.factory import open_store

    with pytest.raises(InvalidArgumentError, match="unsupported store URI"):
        open_store("mysql://x")
    with pytest.raises(InvalidArgumentError, match="store URI"):
        open_store("sqlite:::")
