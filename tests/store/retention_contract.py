"""Deletion and retention conformance (runs, dataset and model versions, predictions, the
digests gc keeps): every backend's test class mixes this in."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from loopml.core.entities import ArtifactRef, CodeVersion, RunInput
from loopml.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.core.serving import Label, Route, RouteMode
from loopml.store.base import MetadataStore
from tests.store.serving_contract import prediction

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _soon() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=5)


class RetentionContract:
    # -- runs -----------------------------------------------------------------------------
    def test_run_description(self, store: MetadataStore) -> None:
        run = store.runs.create("ret", "r", description="first try")
        assert store.runs.get(run.id).description == "first try"
        assert store.runs.set_description(run.id, "notes: lr too high").description == (
            "notes: lr too high"
        )
        assert store.runs.get(run.id).description == "notes: lr too high"
        assert store.runs.set_description(run.id, None).description is None
        with pytest.raises(NotFoundError, match="nope"):
            store.runs.set_description("nope", "x")

    def test_delete_hides_and_restore_shows(self, store: MetadataStore) -> None:
        kept = store.runs.create("ret-del", "kept")
        gone = store.runs.create("ret-del", "gone")
        deleted = store.runs.delete(gone.id, actor="ann")
        assert deleted.deleted_time is not None
        assert store.runs.delete(gone.id, actor="ann").deleted_time == deleted.deleted_time
        assert [r.id for r in store.runs.search(["ret-del"])] == [kept.id]
        assert [r.id for r in store.runs.search(["ret-del"], view="deleted")] == [gone.id]
        assert {r.id for r in store.runs.search(["ret-del"], view="all")} == {kept.id, gone.id}
        assert store.runs.get(gone.id).deleted_time is not None  # still readable by id
        restored = store.runs.restore(gone.id, actor="bob")
        assert restored.deleted_time is None
        assert {r.id for r in store.runs.search(["ret-del"])} == {kept.id, gone.id}
        with pytest.raises(ConflictError, match="not deleted"):
            store.runs.restore(gone.id, actor="bob")
        with pytest.raises(InvalidArgumentError, match="view"):
            store.runs.search(["ret-del"], view="trash")  # type: ignore[arg-type]
        events = store.audit.events(target=f"run:{gone.id}")
        assert [(e.action, e.actor) for e in events] == [("run.restore", "bob"),
                                                         ("run.delete", "ann")]  # fmt: skip

    def test_deleted_run_is_no_cache_hit(self, store: MetadataStore) -> None:
        ref = ArtifactRef("out", "c" * 64, "bytes", 1, T0)
        key = os.urandom(8).hex()
        run = store.runs.create("ret-cache", "s", tags={"k": key}, artifacts=[ref],
                                status="FINISHED")  # type: ignore[arg-type]  # fmt: skip
        assert [found for found, _ in store.runs.finished_with_tag("k", key)] == [run.id]
        store.runs.delete(run.id)
        assert store.runs.finished_with_tag("k", key) == []

    def test_purge_removes_only_runs_deleted_before(self, store: MetadataStore) -> None:
        ref = ArtifactRef("model", "d" * 64, "bytes", 3, T0)
        old = store.runs.create("ret-purge", "old", params={"a": "1"}, artifacts=[ref])
        alive = store.runs.create("ret-purge", "alive")
        store.models.create_version("ret-clf", flavor="sklearn", digest="e" * 64, size=1,
                                    run_id=old.id)  # fmt: skip
        store.runs.delete(old.id)
        assert store.runs.purge(T0, actor="gc") == []  # deleted after T0: kept
        assert old.id in store.runs.purge(_soon(), actor="gc")  # (a shared store: maybe more)
        with pytest.raises(NotFoundError):
            store.runs.get(old.id)
        assert store.runs.get(alive.id).deleted_time is None
        assert store.runs.producers("d" * 64) == []
        version = store.models.get_version("ret-clf", 1)
        assert version.run_id is None  # kept, without the link
        assert store.audit.events(target=f"run:{old.id}", action="run.purge")
        assert old.id not in store.runs.purge(_soon(), actor="gc")

    # -- dataset and model versions -------------------------------------------------------
    def test_delete_dataset_version(self, store: MetadataStore) -> None:
        for digest in ("1" * 64, "2" * 64, "3" * 64):
            store.datasets.create_version("ret-ds", digest=digest, files=1, size=1, format="csv")
        store.datasets.delete_version("ret-ds", 3, actor="ann")
        assert store.datasets.get_version("ret-ds").version == 2  # latest: the newest left
        assert [v.version for v in store.datasets.list_versions("ret-ds")] == [1, 2]
        assert "ret-ds" in {v.name for v in store.datasets.list_latest()}
        with pytest.raises(NotFoundError, match="no version 3"):
            store.datasets.get_version("ret-ds", 3)
        with pytest.raises(NotFoundError, match="3"):
            store.datasets.delete_version("ret-ds", 3)
        again = store.datasets.create_version("ret-ds", digest="4" * 64, files=1, size=1,
                                              format="csv")  # fmt: skip
        assert again.version == 4  # a number is never given twice
        events = store.audit.events(target="dataset:ret-ds", action="dataset.version.delete")
        assert events and events[0].details["version"] == 3 and events[0].actor == "ann"

    def test_model_version_serving_cannot_be_deleted(self, store: MetadataStore) -> None:
        for _ in range(2):
            store.models.create_version("ret-m", flavor="sklearn", digest="f" * 64, size=1)
        store.deployments.create("ret-api", [Route("ret-m", 2, RouteMode.PRIMARY)], actor="a")
        with pytest.raises(ConflictError, match="ret-api"):
            store.models.delete_version("ret-m", 2, actor="ann")
        store.models.delete_version("ret-m", 1, actor="ann")
        with pytest.raises(NotFoundError):
            store.models.get_version("ret-m", 1)

    # -- predictions ----------------------------------------------------------------------
    def test_predictions_expire_by_age(self, store: MetadataStore) -> None:
        store.predictions.log([prediction(i, "ret-old") for i in range(10)])
        store.predictions.log([prediction(100 + i, "ret-other") for i in range(3)])
        store.predictions.add_labels([Label(f"{2:032x}", 1), Label(f"{8:032x}", 0)])
        cut = T0 + timedelta(seconds=5)  # predictions 0..4 are older
        assert store.predictions.delete_before("ret-old", cut, actor="gc") == 5
        left = store.predictions.query(deployment="ret-old")
        assert [p.id for p in left] == [f"{i:032x}" for i in range(5, 10)]
        assert [p.id for p in store.predictions.query(deployment="ret-old", labeled=True)] == [
            f"{8:032x}"
        ]
        assert store.predictions.count("ret-other") == 3
        assert store.predictions.delete_before("ret-old", cut) == 0
        events = store.audit.events(target="deployment:ret-old", action="predictions.expire")
        assert len(events) == 1 and events[0].details["predictions"] == 5

    def test_forget_by_key(self, store: MetadataStore) -> None:
        rows = [prediction(i, "ret-gdpr") for i in range(6)]  # features x = 0.0 .. 5.0
        store.predictions.log(rows)
        store.predictions.add_labels([Label(f"{3:032x}", 1), Label(f"{4:032x}", 1)])
        counts = store.predictions.forget("ret-gdpr", "x", 3, actor="dpo")
        assert counts == {"predictions": 1, "labels": 1}
        assert store.predictions.forget("ret-gdpr", "x", "4", actor="dpo") == {
            "predictions": 1, "labels": 1,
        }  # fmt: skip
        assert store.predictions.forget("ret-gdpr", "city", "london") == {
            "predictions": 0, "labels": 0,
        }  # fmt: skip
        left = {p.id for p in store.predictions.query(deployment="ret-gdpr")}
        assert left == {f"{i:032x}" for i in (0, 1, 2, 5)}
        with pytest.raises(NotFoundError):
            store.predictions.get(f"{3:032x}")
        event = store.audit.events(target="deployment:ret-gdpr", action="predictions.forget")[-1]
        assert event.actor == "dpo" and event.details == {
            "column": "x", "predictions": 1, "labels": 1,
        }  # fmt: skip
        assert "3" not in {str(v) for v in event.details.values()}

    # -- what gc keeps --------------------------------------------------------------------
    def test_referenced_digests(self, store: MetadataStore) -> None:
        names = ("artifact", "env", "diff", "data", "profile", "model", "input")
        digests = {name: os.urandom(32).hex() for name in names}
        run = store.runs.create(
            "ret-refs", "r", env_digest=digests["env"],
            code=CodeVersion("a" * 40, digests["diff"]),
            artifacts=[ArtifactRef("a", digests["artifact"], "bytes", 1, T0)],
            inputs=[RunInput("dataset", "x", "1", digests["input"])],
        )  # fmt: skip
        store.datasets.create_version("ret-refs", digest=digests["data"], files=1, size=1,
                                      format="csv", profile_digest=digests["profile"])  # fmt: skip
        store.models.create_version("ret-refs", flavor="sklearn", digest=digests["model"],
                                    size=1)  # fmt: skip
        store.runs.delete(run.id)  # deleted, not purged: still referenced
        assert set(digests.values()) <= set(store.retention.referenced_digests())
        store.runs.purge(_soon())
        after = set(store.retention.referenced_digests())
        assert digests["artifact"] not in after and digests["env"] not in after
        assert {digests["data"], digests["model"]} <= after
