"""Deployments in SQL. Every change bumps the revision, keeps the routes it replaced (so a
rollback can restore them) and writes an audit event, all in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.errors import ConflictError, NotFoundError
from loopml.core.ids import ms_to_datetime, now_ms
from loopml.core.names import validate_name
from loopml.core.serving import Deployment, DeploymentRevision, Route
from loopml.store.base import DeploymentStore
from loopml.store.sql import schema as t
from loopml.store.sql.audit import insert_event
from loopml.store.sql.engine import read, write


def _record(row: sa.Row) -> Deployment:
    return Deployment(
        name=row.name,
        routes=tuple(Route.from_json(r) for r in row.routes),
        revision=row.revision,
        created_time=ms_to_datetime(row.created_ms),  # type: ignore[arg-type]
        updated_time=ms_to_datetime(row.updated_ms),  # type: ignore[arg-type]
    )


class SqlDeploymentStore(DeploymentStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self, name: str, routes: Sequence[Route], *, actor: str, reason: str | None = None
    ) -> Deployment:
        validate_name(name, "deployment name")

        def work(conn: Connection) -> Deployment:
            if conn.execute(_select(name)).first() is not None:
                raise ConflictError(f"deployment {name!r} already exists")
            now = now_ms()
            conn.execute(
                t.deployments.insert(),
                {"name": name, "routes": _json(routes), "revision": 1,
                 "created_ms": now, "updated_ms": now},
            )  # fmt: skip
            row = conn.execute(_select(name)).one()
            _keep_revision(conn, row.pk, 1, routes, actor, "create", reason)
            insert_event(conn, actor, "deployment.create", f"deployment:{name}",
                         {"routes": _json(routes), "reason": reason})  # fmt: skip
            return _record(row)

        return write(self._engine, work)

    def get(self, name: str) -> Deployment:
        def work(conn: Connection) -> Deployment:
            row = conn.execute(_select(name)).first()
            if row is None:
                raise NotFoundError(f"deployment {name!r} not found")
            return _record(row)

        return read(self._engine, work)

    def list(self) -> list[Deployment]:
        query = sa.select(t.deployments).order_by(t.deployments.c.name)
        return [_record(r) for r in read(self._engine, lambda conn: list(conn.execute(query)))]

    def revision(self, name: str) -> int:
        query = sa.select(t.deployments.c.revision).where(t.deployments.c.name == name)
        found = read(self._engine, lambda conn: conn.execute(query).scalar())
        if found is None:
            raise NotFoundError(f"deployment {name!r} not found")
        return found

    def update(
        self,
        name: str,
        routes: Sequence[Route],
        *,
        actor: str,
        action: str,
        reason: str | None = None,
        expected_revision: int | None = None,
    ) -> Deployment:
        def work(conn: Connection) -> Deployment:
            row = conn.execute(_select(name)).first()
            if row is None:
                raise NotFoundError(f"deployment {name!r} not found")
            if expected_revision is not None and row.revision != expected_revision:
                raise ConflictError(
                    f"deployment {name!r} changed (revision {row.revision}, expected "
                    f"{expected_revision}); read it again and retry"
                )
            revision = row.revision + 1
            conn.execute(
                t.deployments.update()
                .where(t.deployments.c.pk == row.pk)
                .values(routes=_json(routes), revision=revision, updated_ms=now_ms())
            )
            _keep_revision(conn, row.pk, revision, routes, actor, action, reason)
            details = {"from": row.routes, "to": _json(routes), "reason": reason}
            insert_event(conn, actor, f"deployment.{action}", f"deployment:{name}", details)
            return _record(conn.execute(_select(name)).one())

        return write(self._engine, work)

    def revisions(self, name: str) -> list[DeploymentRevision]:
        def work(conn: Connection) -> list[DeploymentRevision]:
            row = conn.execute(_select(name)).first()
            if row is None:
                raise NotFoundError(f"deployment {name!r} not found")
            r = t.deployment_revisions
            query = sa.select(r).where(r.c.deployment_pk == row.pk).order_by(r.c.revision)
            return [
                DeploymentRevision(
                    rev.revision,
                    tuple(Route.from_json(x) for x in rev.routes),
                    rev.actor,
                    rev.action,
                    rev.reason,
                    ms_to_datetime(rev.ts_ms),  # type: ignore[arg-type]
                )
                for rev in conn.execute(query)
            ]

        return read(self._engine, work)


def _select(name: str) -> sa.Select:
    return sa.select(t.deployments).where(t.deployments.c.name == name)


def _json(routes: Sequence[Route]) -> list[dict[str, Any]]:
    return [route.to_json() for route in routes]


def _keep_revision(
    conn: Connection,
    deployment_pk: int,
    revision: int,
    routes: Sequence[Route],
    actor: str,
    action: str,
    reason: str | None,
) -> None:
    conn.execute(
        t.deployment_revisions.insert(),
        {"deployment_pk": deployment_pk, "revision": revision, "routes": _json(routes),
         "actor": actor, "action": action, "reason": reason, "ts_ms": now_ms()},
    )  # fmt: skip
