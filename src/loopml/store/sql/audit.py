"""The audit trail: who changed what, when and why. Other stores write events inside their
own transactions (`insert_event`), so a change and its record commit together."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.entities import freeze
from loopml.core.ids import ms_to_datetime, now_ms
from loopml.core.models import AuditEvent
from loopml.store.base import AuditStore
from loopml.store.sql import schema as t
from loopml.store.sql.engine import read, write

MAX_EVENTS = 10_000


def insert_event(
    conn: Connection, actor: str, action: str, target: str, details: Mapping[str, Any]
) -> None:
    row = {
        "ts_ms": now_ms(),
        "actor": actor,
        "action": action,
        "target": target,
        "details": dict(details),
    }
    conn.execute(t.audit_events.insert(), row)


class SqlAuditStore(AuditStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None:
        write(self._engine, lambda conn: insert_event(conn, actor, action, target, details))

    def events(
        self,
        target: str | None = None,
        action: str | None = None,
        limit: int = 100,
        *,
        action_prefix: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEvent]:
        e = t.audit_events
        query = sa.select(e).order_by(e.c.ts_ms.desc(), e.c.id.desc())
        if target is not None:
            query = query.where(e.c.target == target)
        if action is not None:
            query = query.where(e.c.action == action)
        if action_prefix:
            query = query.where(e.c.action.startswith(action_prefix, autoescape=True))
        if actor is not None:
            query = query.where(e.c.actor == actor)
        if since is not None:
            query = query.where(e.c.ts_ms >= int(since.timestamp() * 1000))
        query = query.limit(max(1, min(limit, MAX_EVENTS)))
        rows = read(self._engine, lambda conn: list(conn.execute(query)))
        return [
            AuditEvent(
                row.id,
                ms_to_datetime(row.ts_ms),  # type: ignore[arg-type]
                row.actor,
                row.action,
                row.target,
                freeze(row.details),
            )
            for row in rows
        ]
