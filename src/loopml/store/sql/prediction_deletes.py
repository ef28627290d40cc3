"""Deleting predictions: by age (a deployment's retention) and by key (a person's rows, for a
right-to-erasure request). Labels go with their predictions; both are audited."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.errors import InvalidArgumentError
from loopml.store.sql import schema as t
from loopml.store.sql.audit import insert_event

BATCH = 2_000


def _delete_ids(conn: Connection, ids: list[str]) -> tuple[int, int]:
    labels = conn.execute(t.labels.delete().where(t.labels.c.prediction_id.in_(ids))).rowcount
    gone = conn.execute(t.predictions.delete().where(t.predictions.c.id.in_(ids))).rowcount
    return gone, labels


def delete_before(conn: Connection, deployment: str, before: datetime, actor: str) -> int:
    p = t.predictions
    cutoff = int(before.timestamp() * 1000)
    old = sa.select(p.c.id).where(p.c.deployment == deployment, p.c.ts_ms < cutoff)
    total = labels = 0
    while ids := list(conn.execute(old.limit(BATCH)).scalars()):
        gone, labeled = _delete_ids(conn, ids)
        total, labels = total + gone, labels + labeled
    f = t.serving_failures
    conn.execute(f.delete().where(f.c.deployment == deployment, f.c.ts_ms < cutoff))
    if total:
        details = {"before": before.isoformat(), "predictions": total, "labels": labels}
        insert_event(conn, actor, "predictions.expire", f"deployment:{deployment}", details)
    return total


def matches(features: Any, column: str, value: Any) -> bool:
    if isinstance(features, str):
        features = json.loads(features)
    if not isinstance(features, dict) or column not in features:
        return False
    found = features[column]
    if found == value and type(found) is not bool and type(value) is not bool:
        return True
    return _text(found) == _text(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def forget(
    conn: Connection, deployment: str, column: str, value: Any, actor: str
) -> dict[str, int]:
    if not column:
        raise InvalidArgumentError("the column to match must be named")
    p = t.predictions
    scan = sa.select(p.c.pk, p.c.id, sa.cast(p.c.features, sa.Text).label("features"))
    scan = scan.where(p.c.deployment == deployment).order_by(p.c.pk).limit(BATCH)
    found: list[str] = []
    last = -1
    while rows := list(conn.execute(scan.where(p.c.pk > last))):
        found += [row.id for row in rows if matches(row.features, column, value)]
        last = rows[-1].pk
    total = labels = 0
    for start in range(0, len(found), BATCH):
        gone, labeled = _delete_ids(conn, found[start : start + BATCH])
        total, labels = total + gone, labels + labeled
    counts = {"predictions": total, "labels": labels}
    details = {"column": column, **counts}  # never the value: the trail must not re-identify
    insert_event(conn, actor, "predictions.forget", f"deployment:{deployment}", details)
    return counts
