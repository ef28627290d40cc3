"""Dataset-store conformance: every backend's test class mixes this in."""

from __future__ import annotations

import threading

import pytest

from loopml.core.datasets import ColumnSchema, ColumnType, Schema
from loopml.core.entities import RunInput
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.store.base import MetadataStore

SCHEMA = Schema((ColumnSchema("amount", ColumnType.FLOAT, nullable=False, min=0.0, max=9.5),))


def add(store: MetadataStore, name: str, digest: str, **extra: object):  # type: ignore[no-untyped-def]
    fields = {"files": 2, "size": 100, "format": "csv", **extra}
    return store.datasets.create_version(name, digest=digest, **fields)  # type: ignore[arg-type]


class DatasetStoreContract:
    def test_versions_are_numbered_per_name(self, store: MetadataStore) -> None:
        first = add(store, "tx", "a" * 64, schema=SCHEMA, profile_digest="f" * 64)
        second = add(store, "tx", "b" * 64)
        other = add(store, "users", "a" * 64)
        assert (first.version, second.version, other.version) == (1, 2, 1)
        assert first.created and first.schema == SCHEMA and first.profile_digest == "f" * 64
        assert store.datasets.get_version("tx") == second
        assert store.datasets.get_version("tx", 1) == first
        assert store.datasets.get_version("tx", "1") == first
        assert [v.version for v in store.datasets.list_versions("tx")] == [1, 2]
        assert [(v.name, v.version) for v in store.datasets.list_latest()] == [
            ("tx", 2),
            ("users", 1),
        ]
        assert {(v.name, v.version) for v in store.datasets.find_by_digest("a" * 64)} == {
            ("tx", 1), ("users", 1),
        }  # fmt: skip

    def test_identical_content_makes_no_new_version(self, store: MetadataStore) -> None:
        add(store, "tx", "a" * 64)
        again = add(store, "tx", "a" * 64)
        assert (again.version, again.created) == (1, False)
        add(store, "tx", "b" * 64)
        back = add(store, "tx", "a" * 64)  # back to old content: a new latest version
        assert (back.version, back.created) == (3, True)

    def test_unknown_dataset_and_version(self, store: MetadataStore) -> None:
        with pytest.raises(NotFoundError, match="'ghost' not found"):
            store.datasets.get_version("ghost")
        with pytest.raises(NotFoundError, match="ghost"):
            store.datasets.list_versions("ghost")
        add(store, "tx", "a" * 64)
        with pytest.raises(NotFoundError, match="no version 7"):
            store.datasets.get_version("tx", 7)
        for bad in (0, -1, "v1", 1.5, True):
            with pytest.raises(InvalidArgumentError, match="version"):
                store.datasets.get_version("tx", bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="dataset name"):
            add(store, "bad name!", "c" * 64)

    def test_lineage_both_ways(self, store: MetadataStore) -> None:
        producer = store.runs.create("p", "ingest")
        made = add(store, "tx", "a" * 64, producer_run_id=producer.id)
        assert made.producer_run_id == producer.id
        assert store.datasets.produced_by(producer.id) == [made]
        consumer = store.runs.create("p", "train")
        store.runs.add_input(consumer.id, RunInput("dataset", "tx", "1", made.digest))
        assert store.datasets.consumers("tx", 1) == [consumer.id]
        assert store.datasets.consumers("tx", 2) == []
        with pytest.raises(NotFoundError):
            add(store, "tx", "b" * 64, producer_run_id="no-such-run")
        assert store.datasets.get_version("tx").version == 1  # the failed add left nothing

    def test_racing_writers_get_distinct_numbers(self, store: MetadataStore) -> None:
        errors: list[BaseException] = []

        def writer(i: int) -> None:
            try:
                add(store, "raced", f"{i:064x}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors
        assert [v.version for v in store.datasets.list_versions("raced")] == list(range(1, 9))


class DatasetSchemaJsonContract:
    def test_infinite_schema_bounds_are_stored_as_unbounded(self, store: MetadataStore) -> None:
        schema = Schema((ColumnSchema("x", ColumnType.FLOAT, min=float("-inf"), max=float("inf")),))
        stored = add(store, "inf", "d" * 64, schema=schema).schema
        assert stored is not None and (stored.columns[0].min, stored.columns[0].max) == (None, None)
