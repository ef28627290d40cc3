"""The store conformance suites, through a real server: the remote store behaves as a local one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.store.remote import RemoteMetadataStore
from tests.store.contract import RunStoreContract
from tests.store.dataset_contract import DatasetStoreContract
from tests.store.loop_contract import LoopStoreContract
from tests.store.model_contract import ModelStoreContract
from tests.store.serving_contract import DeploymentStoreContract, PredictionStoreContract


class TestRemoteStore(
    RunStoreContract,
    DatasetStoreContract,
    ModelStoreContract,
    DeploymentStoreContract,
    PredictionStoreContract,
    LoopStoreContract,
):
    @pytest.fixture
    def store(self, served, admin_token: str) -> Iterator[RemoteMetadataStore]:
        server, _ = served
        store = RemoteMetadataStore(server.url, admin_token)
        yield store
        store.close()
