"""Projects in SQL: created on first use, looked up by name."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.entities import Project
from loopml.core.errors import NotFoundError
from loopml.core.ids import ms_to_datetime, new_id, now_ms
from loopml.core.names import validate_project_name
from loopml.store.base import ProjectStore
from loopml.store.sql import schema as t
from loopml.store.sql.dialect import insert_ignore
from loopml.store.sql.engine import read, write


def _record(row: sa.Row) -> Project:
    return Project(row.id, row.name, ms_to_datetime(row.created_ms))  # type: ignore[arg-type]


class SqlProjectStore(ProjectStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Names never change id, so these caches never go stale.
        self._ids: dict[str, str] = {}
        self._known: dict[str, Project] = {}

    def get_or_create(self, name: str) -> Project:
        if name in self._known:
            return self._known[name]
        validate_project_name(name)
        row = {"id": new_id(), "name": name, "created_ms": now_ms()}

        def work(conn: Connection) -> sa.Row:
            conn.execute(insert_ignore(conn, t.projects), [row])
            return conn.execute(sa.select(t.projects).where(t.projects.c.name == name)).one()

        project = _record(read(self._engine, self._select(name)) or write(self._engine, work))
        self._ids[name] = project.id
        self._known[name] = project
        return project

    def get(self, name: str) -> Project:
        row = read(self._engine, self._select(name))
        if row is None:
            raise NotFoundError(f"project {name!r} not found")
        return _record(row)

    def list(self) -> list[Project]:
        query = sa.select(t.projects).order_by(t.projects.c.name)
        return [_record(row) for row in read(self._engine, lambda conn: list(conn.execute(query)))]

    def ids(self, conn: Connection, names: Sequence[str]) -> list[str]:
        """Project ids for names, raising NotFoundError naming the first unknown project."""
        missing = [n for n in names if n not in self._ids]
        if missing:
            query = sa.select(t.projects.c.name, t.projects.c.id).where(
                t.projects.c.name.in_(missing)
            )
            self._ids.update({name: id_ for name, id_ in conn.execute(query)})
        for name in names:
            if name not in self._ids:
                raise NotFoundError(f"project {name!r} not found")
        return [self._ids[n] for n in names]

    @staticmethod
    def _select(name: str):  # type: ignore[no-untyped-def]
        query = sa.select(t.projects).where(t.projects.c.name == name)
        return lambda conn: conn.execute(query).first()
