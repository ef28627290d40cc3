"""The continuous-training loop in SQL: one state row per deployment saved by compare-and-set on
its revision, an append-only timeline, and leases that expire."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.entities import FrozenDict
from loopml.core.errors import ConflictError, InvalidArgumentError
from loopml.core.ids import ms_to_datetime, now_ms
from loopml.core.loops import Lease, LoopEvent, LoopState, Phase
from loopml.store.base import LoopStore
from loopml.store.sql import schema as t
from loopml.store.sql.dialect import json_safe
from loopml.store.sql.engine import read, write

MAX_EVENTS = 10_000


class SqlLoopStore(LoopStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, deployment: str) -> LoopState:
        query = sa.select(t.loop_states.c.state).where(t.loop_states.c.deployment == deployment)
        found = read(self._engine, lambda conn: conn.execute(query).scalar())
        return LoopState(deployment) if found is None else state_from_json(found)

    def list(self) -> list[LoopState]:
        query = sa.select(t.loop_states.c.state).order_by(t.loop_states.c.deployment)
        rows = read(self._engine, lambda conn: list(conn.execute(query).scalars()))
        return [state_from_json(row) for row in rows]

    def save(self, state: LoopState, event: LoopEvent | None = None) -> LoopState:
        saved = dataclasses.replace(state, revision=state.revision + 1)
        s = t.loop_states

        def work(conn: Connection) -> LoopState:
            state_json = json_safe(saved.to_json())
            row = {"revision": saved.revision, "state": state_json, "updated_ms": now_ms()}
            if state.revision == 0:
                exists = conn.execute(
                    sa.select(s.c.revision).where(s.c.deployment == state.deployment)
                )
                if exists.first() is not None:
                    raise _conflict(state)
                conn.execute(s.insert(), {"deployment": state.deployment, **row})
            else:
                done = conn.execute(
                    s.update()
                    .where(s.c.deployment == state.deployment, s.c.revision == state.revision)
                    .values(**row)
                )
                if done.rowcount != 1:
                    raise _conflict(state)
            if event is not None:
                conn.execute(t.loop_events.insert(), _event_row(event))
            return saved

        try:
            return write(self._engine, work)
        except sa.exc.IntegrityError:  # another writer inserted the first row meanwhile
            raise _conflict(state) from None

    def events(self, deployment: str | None = None, limit: int = 100) -> list[LoopEvent]:
        e = t.loop_events
        query = sa.select(e).order_by(e.c.pk.desc()).limit(max(1, min(limit, MAX_EVENTS)))
        if deployment is not None:
            query = query.where(e.c.deployment == deployment)
        rows = read(self._engine, lambda conn: list(conn.execute(query)))
        return [_event(row) for row in reversed(rows)]

    def acquire(self, deployment: str, holder: str, ttl: float) -> Lease:
        if ttl <= 0:
            raise InvalidArgumentError(f"a lease needs a positive time to live, got {ttl}")
        for _ in range(3):  # an insert race on the first lease: read the winner's row
            try:
                return write(self._engine, lambda conn: _take(conn, deployment, holder, ttl))
            except sa.exc.IntegrityError:
                continue
        raise ConflictError(f"could not take the lease on {deployment!r}: too much contention")

    def release(self, deployment: str, holder: str) -> None:
        lease = t.loop_leases
        query = lease.delete().where(lease.c.deployment == deployment, lease.c.holder == holder)
        write(self._engine, lambda conn: conn.execute(query))


def _take(conn: Connection, deployment: str, holder: str, ttl: float) -> Lease:
    lease = t.loop_leases
    now = now_ms()
    expires = now + int(ttl * 1000)
    row = conn.execute(
        sa.select(lease).where(lease.c.deployment == deployment).with_for_update()
    ).first()
    if row is None:
        conn.execute(lease.insert(), {"deployment": deployment, "holder": holder,
                                      "expires_ms": expires})  # fmt: skip
    elif row.holder == holder or row.expires_ms <= now:
        conn.execute(
            lease.update().where(lease.c.deployment == deployment)
            .values(holder=holder, expires_ms=expires)
        )  # fmt: skip
    else:
        return Lease(deployment, row.holder, ms_to_datetime(row.expires_ms))  # type: ignore[arg-type]
    return Lease(deployment, holder, ms_to_datetime(expires))  # type: ignore[arg-type]


def _conflict(state: LoopState) -> ConflictError:
    return ConflictError(
        f"the loop of {state.deployment!r} changed since revision {state.revision} "
        "(another controller acted): read it again"
    )


def _event_row(event: LoopEvent) -> dict[str, Any]:
    return {
        "deployment": event.deployment,
        "cycle": event.cycle,
        "phase": event.phase.value,
        "ts_ms": int(event.time.timestamp() * 1000),
        "message": event.message,
        "details": json_safe(dict(event.details)),
    }


def _event(row: sa.Row) -> LoopEvent:
    return LoopEvent(
        deployment=row.deployment,
        cycle=row.cycle,
        phase=Phase(row.phase),
        time=ms_to_datetime(row.ts_ms),  # type: ignore[arg-type]
        message=row.message,
        details=FrozenDict(row.details or {}),
    )


def state_from_json(data: dict[str, Any]) -> LoopState:
    return LoopState(
        deployment=data["deployment"],
        phase=Phase(data["phase"]),
        revision=data["revision"],
        cycle=data.get("cycle", 0),
        trigger=data.get("trigger"),
        pipeline_run_id=data.get("pipeline_run_id"),
        candidate=data.get("candidate"),
        baseline=data.get("baseline"),
        decision=FrozenDict(data.get("decision") or {}),
        error=data.get("error"),
        cycle_time=_time(data.get("cycle_time")),
        phase_time=_time(data.get("phase_time")),
        cursors=FrozenDict(data.get("cursors") or {}),
    )


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
