"""A run's description and soft deletion: delete hides a run (it keeps everything it logged),
restore brings it back, purge removes the runs deleted long enough ago for good. Each change of
state is audited in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.core.ids import now_ms
from loopml.store.sql import schema as t
from loopml.store.sql.audit import insert_event

_VIEWS = ("active", "deleted", "all")
_CHILDREN = (t.params, t.tags, t.metrics, t.latest_metrics, t.run_artifacts, t.run_inputs)
_PURGE_BATCH = 500


def view_condition(view: str) -> sa.ColumnElement[bool] | None:
    if view not in _VIEWS:
        raise InvalidArgumentError(f"view must be one of {', '.join(_VIEWS)}, got {view!r}")
    if view == "active":
        return t.runs.c.deleted_ms.is_(None)
    if view == "deleted":
        return t.runs.c.deleted_ms.is_not(None)
    return None


def _row(conn: Connection, run_id: str) -> sa.Row:
    query = sa.select(t.runs.c.pk, t.runs.c.deleted_ms, t.runs.c.project_id)
    row = conn.execute(query.where(t.runs.c.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"run {run_id!r} not found")
    return row


def update(conn: Connection, run_id: str, **values: Any) -> None:
    result = conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(values))
    if result.rowcount == 0:
        raise NotFoundError(f"run {run_id!r} not found")


def _project(conn: Connection, project_id: str) -> str:
    query = sa.select(t.projects.c.name).where(t.projects.c.id == project_id)
    return str(conn.execute(query).scalar_one())


def delete(conn: Connection, run_id: str, actor: str) -> None:
    row = _row(conn, run_id)
    if row.deleted_ms is not None:
        return
    update(conn, run_id, deleted_ms=now_ms())
    details = {"project": _project(conn, row.project_id)}
    insert_event(conn, actor, "run.delete", f"run:{run_id}", details)


def restore(conn: Connection, run_id: str, actor: str) -> None:
    row = _row(conn, run_id)
    if row.deleted_ms is None:
        raise ConflictError(f"run {run_id} is not deleted; there is nothing to restore")
    update(conn, run_id, deleted_ms=None)
    details = {"project": _project(conn, row.project_id)}
    insert_event(conn, actor, "run.restore", f"run:{run_id}", details)


def purge(conn: Connection, deleted_before: datetime, actor: str) -> list[str]:
    cutoff = int(deleted_before.timestamp() * 1000)
    query = (
        sa.select(t.runs.c.pk, t.runs.c.id, t.runs.c.project_id)
        .where(t.runs.c.deleted_ms.is_not(None), t.runs.c.deleted_ms < cutoff)
        .order_by(t.runs.c.pk)
    )
    rows = list(conn.execute(query))
    for start in range(0, len(rows), _PURGE_BATCH):
        batch = rows[start : start + _PURGE_BATCH]
        pks = [row.pk for row in batch]
        for table in _CHILDREN:
            conn.execute(table.delete().where(table.c.run_pk.in_(pks)))
        versions = t.model_versions.c
        conn.execute(t.model_versions.update().where(versions.run_pk.in_(pks)).values(run_pk=None))
        datasets = t.dataset_versions.c
        conn.execute(
            t.dataset_versions.update()
            .where(datasets.producer_run_pk.in_(pks))
            .values(producer_run_pk=None)
        )
        conn.execute(t.runs.delete().where(t.runs.c.pk.in_(pks)))
    names: dict[str, str] = {}
    for row in rows:
        project = names.get(row.project_id) or names.setdefault(
            row.project_id, _project(conn, row.project_id)
        )
        insert_event(conn, actor, "run.purge", f"run:{row.id}", {"project": project})
    return [row.id for row in rows]
