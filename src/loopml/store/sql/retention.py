"""The digests the metadata still refers to, for garbage collection of the blob store."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.store.base import RetentionStore
from loopml.store.sql import schema as t
from loopml.store.sql.engine import read

_REFERENCES = (
    t.run_artifacts.c.digest,
    t.runs.c.env_digest,
    t.runs.c.code_diff_digest,
    t.run_inputs.c.digest,
    t.dataset_versions.c.digest,
    t.dataset_versions.c.profile_digest,
    t.model_versions.c.digest,
)


class SqlRetentionStore(RetentionStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def referenced_digests(self) -> list[str]:
        def work(conn: Connection) -> list[str]:
            found: set[str] = set()
            for column in _REFERENCES:
                query = sa.select(column).where(column.is_not(None)).distinct()
                found.update(conn.execute(query).scalars())
            return sorted(found)

        return read(self._engine, work)
