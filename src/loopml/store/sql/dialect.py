"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from loopml.store.sql import schema as t


def _insert(conn: Connection, table: sa.Table):  # type: ignore[no-untyped-def]
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def insert_ignore(conn: Connection, table: sa.Table) -> sa.Insert:
    """INSERT that skips rows whose primary or unique key already exists."""
    return _insert(conn, table).on_conflict_do_nothing()


def upsert_latest_metrics(conn: Connection, rows: list[dict]) -> None:
    """Keep, per (run, key), the point with the highest (step, timestamp)."""
    if not rows:
        return
    stmt = _insert(conn, t.latest_metrics)
    current, new = t.latest_metrics.c, stmt.excluded
    newer = sa.or_(
        new.step > current.step, sa.and_(new.step == current.step, new.ts_ms >= current.ts_ms)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[current.run_id, current.key],
        set_={"value": new.value, "step": new.step, "ts_ms": new.ts_ms},
        where=newer,
    )
    conn.execute(stmt, rows)
