"""The SQL metadata store: one engine shared by every record interface."""

from __future__ import annotations

from loopml.store.base import MetadataStore
from loopml.store.sql import migrate
from loopml.store.sql.datasets import SqlDatasetStore
from loopml.store.sql.engine import create_engine
from loopml.store.sql.projects import SqlProjectStore
from loopml.store.sql.runs import SqlRunStore


class SqlMetadataStore(MetadataStore):
    def __init__(self, uri: str, *, upgrade: bool = True) -> None:
        self.uri = uri
        self.engine = create_engine(uri)
        if upgrade:
            migrate.upgrade(self.engine)
        self.projects = SqlProjectStore(self.engine)
        self.runs = SqlRunStore(self.engine, self.projects)
        self.datasets = SqlDatasetStore(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlMetadataStore({self.engine.url.render_as_string(hide_password=True)!r})"
