"""The SQL metadata store: one engine shared by every record interface."""

from __future__ import annotations

from loopml.store.base import MetadataStore
from loopml.store.sql import migrate
from loopml.store.sql.audit import SqlAuditStore
from loopml.store.sql.auth import SqlAuthStore
from loopml.store.sql.datasets import SqlDatasetStore
from loopml.store.sql.deployments import SqlDeploymentStore
from loopml.store.sql.engine import create_engine
from loopml.store.sql.idempotency import SqlIdempotencyStore
from loopml.store.sql.loops import SqlLoopStore
from loopml.store.sql.models import SqlModelStore
from loopml.store.sql.monitoring import SqlMonitorStore
from loopml.store.sql.predictions import SqlPredictionStore
from loopml.store.sql.projects import SqlProjectStore
from loopml.store.sql.retention import SqlRetentionStore
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
        self.models = SqlModelStore(self.engine)
        self.audit = SqlAuditStore(self.engine)
        self.deployments = SqlDeploymentStore(self.engine)
        self.predictions = SqlPredictionStore(self.engine)
        self.monitoring = SqlMonitorStore(self.engine)
        self.loops = SqlLoopStore(self.engine)
        self.retention = SqlRetentionStore(self.engine)
        self.auth = SqlAuthStore(self.engine)
        self.idempotency = SqlIdempotencyStore(self.engine)  # the server's; not served

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlMetadataStore({self.engine.url.render_as_string(hide_password=True)!r})"
