"""Key lookups shared by the record stores."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from loopml.core.errors import NotFoundError
from loopml.store.sql import schema as t


def run_pk(conn: Connection, run_id: str | None) -> int | None:
    """The integer key of a run id (None for None); NotFoundError names an unknown id."""
    if run_id is None:
        return None
    pk = conn.execute(sa.select(t.runs.c.pk).where(t.runs.c.id == run_id)).scalar()
    if pk is None:
        raise NotFoundError(f"run {run_id!r} not found")
    return pk
