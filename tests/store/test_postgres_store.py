from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.store.sql.store import SqlMetadataStore
from tests.store.contract import RunStoreContract
from tests.store.dataset_contract import DatasetSchemaJsonContract, DatasetStoreContract
from tests.store.loop_contract import LoopStoreContract
from tests.store.model_contract import ModelStoreContract
from tests.store.retention_contract import RetentionContract
from tests.store.serving_contract import DeploymentStoreContract, PredictionStoreContract

pytestmark = pytest.mark.postgres


class TestPostgresStore(
    RunStoreContract,
    DatasetStoreContract,
    DatasetSchemaJsonContract,
    ModelStoreContract,
    DeploymentStoreContract,
    PredictionStoreContract,
    LoopStoreContract,
    RetentionContract,
):
    @pytest.fixture
    def store(self, postgres_uri: str) -> Iterator[SqlMetadataStore]:
        store = SqlMetadataStore(postgres_uri)
        yield store
        store.close()
