"""Deployment-store and prediction-store conformance: every backend mixes this in."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from loopml.core.errors import ConflictError, NotFoundError
from loopml.core.serving import Label, Prediction, Route, RouteMode
from loopml.store.base import MetadataStore

PRIMARY = Route("clf", 1, RouteMode.PRIMARY, ref="clf@champion")
CANARY = Route("clf", 2, RouteMode.CANARY, 0.1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def prediction(i: int, deployment: str = "api", version: int = 1) -> Prediction:
    return Prediction(
        id=f"{i:032x}", deployment=deployment, model="clf", version=version,
        route=RouteMode.PRIMARY, time=T0 + timedelta(seconds=i),
        features={"x": float(i), "city": "paris"}, output=i % 2, latency_ms=1.5,
    )  # fmt: skip


class DeploymentStoreContract:
    def test_create_update_and_revisions(self, store: MetadataStore) -> None:
        created = store.deployments.create("api", [PRIMARY], actor="ann", reason="first")
        assert (created.revision, created.primary, created.canary) == (1, PRIMARY, None)
        with pytest.raises(ConflictError, match="already exists"):
            store.deployments.create("api", [PRIMARY], actor="ann")
        updated = store.deployments.update("api", [PRIMARY, CANARY], actor="bob", action="canary")
        assert updated.revision == 2 and updated.canary == CANARY
        assert store.deployments.get("api") == updated
        assert store.deployments.revision("api") == 2
        history = store.deployments.revisions("api")
        assert [(r.revision, r.actor, r.action) for r in history] == [
            (1, "ann", "create"), (2, "bob", "canary"),
        ]  # fmt: skip
        assert history[0].routes == (PRIMARY,) and history[0].reason == "first"
        events = store.audit.events(target="deployment:api")
        assert [e.action for e in events] == ["deployment.canary", "deployment.create"]
        assert [d.name for d in store.deployments.list()] == ["api"]

    def test_stale_revision_and_unknown_names(self, store: MetadataStore) -> None:
        store.deployments.create("api", [PRIMARY], actor="ann")
        with pytest.raises(ConflictError, match="changed"):
            store.deployments.update("api", [PRIMARY], actor="a", action="x", expected_revision=7)
        for call in (
            lambda: store.deployments.get("nope"),
            lambda: store.deployments.revision("nope"),
            lambda: store.deployments.update("nope", [PRIMARY], actor="a", action="x"),
        ):
            with pytest.raises(NotFoundError, match="deployment 'nope' not found"):
                call()


class PredictionStoreContract:
    def test_log_query_and_labels(self, store: MetadataStore) -> None:
        store.predictions.log([prediction(i) for i in range(5)])
        store.predictions.log([prediction(10, version=2), prediction(11, "other")])
        assert store.predictions.count("api") == 6
        found = store.predictions.query(deployment="api", version=1)
        assert [p.id for p in found] == [f"{i:032x}" for i in range(5)]
        assert found[0] == prediction(0)
        window = store.predictions.query(since=T0 + timedelta(seconds=1),
                                         until=T0 + timedelta(seconds=3))  # fmt: skip
        assert [p.features["x"] for p in window] == [1.0, 2.0]
        newest = store.predictions.query(deployment="api", limit=2, newest=True)
        assert [p.features["x"] for p in newest] == [4.0, 10.0]
        unknown = store.predictions.add_labels(
            [Label(f"{1:032x}", 1), Label(f"{3:032x}", 0), Label("f" * 32, 1)]
        )
        assert unknown == ["f" * 32]
        labeled = store.predictions.query(deployment="api", labeled=True)
        assert [(p.features["x"], p.label) for p in labeled] == [(1.0, 1), (3.0, 0)]
        assert labeled[0].labeled_time is not None
        store.predictions.add_labels([Label(f"{1:032x}", 0)])  # write-once: ignored
        assert store.predictions.query(deployment="api", labeled=True)[0].label == 1

    def test_labels_only_for_the_deployment_named(self, store: MetadataStore) -> None:
        store.predictions.log([prediction(1), prediction(2, "other")])
        mine, theirs = f"{1:032x}", f"{2:032x}"
        unknown = store.predictions.add_labels(
            [Label(mine, 1), Label(theirs, 1), Label("f" * 32, 1)], deployment="api"
        )
        assert unknown == [theirs, "f" * 32]
        assert [p.id for p in store.predictions.query(labeled=True)] == [mine]
        assert store.predictions.get(theirs).label is None
        assert store.predictions.add_labels([Label(theirs, 0)], deployment="other") == []
        assert store.predictions.get(theirs).label == 0

    def test_get_one_prediction_with_its_label(self, store: MetadataStore) -> None:
        shadow = dataclasses.replace(prediction(2), id=f"{22:032x}", route=RouteMode.SHADOW,
                                     output={"p": [0.25, 0.75]})  # fmt: skip
        store.predictions.log([prediction(1), shadow])
        assert store.predictions.get(f"{1:032x}") == prediction(1)
        assert store.predictions.get(f"{22:032x}") == shadow
        store.predictions.add_labels([Label(f"{1:032x}", "yes")])
        labeled = store.predictions.get(f"{1:032x}")
        assert labeled.label == "yes" and labeled.labeled_time is not None
        assert dataclasses.replace(labeled, label=None, labeled_time=None) == prediction(1)
        with pytest.raises(NotFoundError, match=f"prediction '{'e' * 32}' not found"):
            store.predictions.get("e" * 32)

    def test_columns_are_the_query_as_columns(self, store: MetadataStore) -> None:
        if not hasattr(store.predictions, "columns"):
            pytest.skip("columns() is the SQL store's fast path; monitoring falls back to query()")
        shadow = dataclasses.replace(prediction(3), id=f"{99:032x}", route=RouteMode.SHADOW,
                                     output={"p": [0.25, 0.75]})  # fmt: skip
        store.predictions.log([prediction(i) for i in range(3)] + [shadow, prediction(4, "b")])
        store.predictions.add_labels([Label(f"{1:032x}", "yes"), Label(f"{99:032x}", None)])
        for selection in ({"deployment": "api"}, {"deployment": "api", "limit": 2,
                                                   "newest": True}, {"labeled": True}):  # fmt: skip
            records = store.predictions.query(**selection)
            columns = store.predictions.columns(**selection)
            assert columns.route == [p.route.value for p in records]
            assert [(m, v) for m, v in zip(columns.model, columns.version, strict=True)] == [
                (p.model, p.version) for p in records
            ]
            assert [json.loads(f) for f in columns.features_json] == [
                dict(p.features) for p in records
            ]
            assert columns.output == [p.output for p in records]
            assert columns.labeled == [p.labeled_time is not None for p in records]
            assert columns.label == [p.label for p in records]
        empty = store.predictions.columns(deployment="nope")
        assert empty.route == [] and empty.features_json == []
