from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.store.sql.store import SqlMetadataStore
from tests.store.contract import RunStoreContract
from tests.store.dataset_contract import DatasetSchemaJsonContract, DatasetStoreContract
from tests.store.loop_contract import LoopStoreContract
from tests.store.model_contract import ModelStoreContract
from tests.store.retention_contract import RetentionContract
from tests.store.serving_contract import DeploymentStoreContract, PredictionStoreContract


class TestSqliteStore(
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
    def store(self, tmp_path: Path) -> Iterator[SqlMetadataStore]:
        store = SqlMetadataStore(f"sqlite:///{tmp_path / 'loopml.db'}")
        yield store
        store.close()

    def test_wal_mode_and_busy_timeout(self, store: SqlMetadataStore) -> None:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
