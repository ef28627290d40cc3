"""The store conformance suites, through a real server: the remote store behaves as a local one."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from loopml.store.remote import RemoteMetadataStore
from loopml.workspace import Workspace
from tests.store.contract import RunStoreContract
from tests.store.dataset_contract import DatasetStoreContract
from tests.store.loop_contract import LoopStoreContract
from tests.store.model_contract import ModelStoreContract
from tests.store.retention_contract import RetentionContract
from tests.store.serving_contract import DeploymentStoreContract, PredictionStoreContract


class TestRemoteStore(
    RunStoreContract,
    DatasetStoreContract,
    ModelStoreContract,
    DeploymentStoreContract,
    PredictionStoreContract,
    LoopStoreContract,
    RetentionContract,
):
    @pytest.fixture
    def store(self, served, admin_token: str) -> Iterator[RemoteMetadataStore]:
        server, workspace = served
        # The server sweeps stale runs with at least its own heartbeat timeout, whatever a
        # client asks: short here, so the suite's sweep with 0.3 s is not raised to minutes.
        config = dataclasses.replace(workspace.config, heartbeat_timeout=0.2)
        server.use(Workspace(config, workspace.store))
        store = RemoteMetadataStore(server.url, admin_token)
        yield store
        store.close()
