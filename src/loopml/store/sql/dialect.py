"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def _insert(conn: Connection, table: sa.Table):  # type: ignore[no-untyped-def]
    # Imported on use: the PostgreSQL dialect module costs ~40 ms that SQLite users never need.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_ignore(conn: Connection, table: sa.Table) -> sa.Insert:
    """INSERT that skips rows whose primary or unique key already exists."""
    return _insert(conn, table).on_conflict_do_nothing()


_METRIC_COLUMNS = "(run_pk, key, value, step, ts_ms)"
_INSERT_METRICS = (
    f"INSERT INTO metrics {_METRIC_COLUMNS} VALUES ({{p}}, {{p}}, {{p}}, {{p}}, {{p}})"
)
# The same text is valid on SQLite (3.24+) and PostgreSQL: keep the newest (step, time) point.
_UPSERT_LATEST = (
    f"INSERT INTO latest_metrics {_METRIC_COLUMNS} VALUES ({{p}}, {{p}}, {{p}}, {{p}}, {{p}}) "
    "ON CONFLICT (run_pk, key) DO UPDATE SET "
    "value = excluded.value, step = excluded.step, ts_ms = excluded.ts_ms "
    "WHERE excluded.step > latest_metrics.step OR "
    "(excluded.step = latest_metrics.step AND excluded.ts_ms >= latest_metrics.ts_ms)"
)


def _placeholder(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def insert_metric_rows(conn: Connection, rows: list[tuple], latest: list[tuple]) -> None:
    """Metric points and their per-key latest values as (run_pk, key, value, step, ts_ms).

    Goes straight to the driver's executemany: metric batches are the hottest write path,
    and building SQLAlchemy parameter dicts per point cost more than the database itself.
    """
    p = _placeholder(conn)
    conn.exec_driver_sql(_INSERT_METRICS.format(p=p), rows)
    if latest:
        conn.exec_driver_sql(_UPSERT_LATEST.format(p=p), latest)


def json_safe(value: object) -> object:
    """NaN and infinities as strings: strict JSON (PostgreSQL's) has no such numbers."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
