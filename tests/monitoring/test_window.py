"""A deployment's window read through the store's columns equals the one built from
records: shadow answers left out, labels joined, features parsed by Arrow's JSON reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from loopml.core.serving import Label, Prediction, Route, RouteMode
from loopml.monitoring import window

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _prediction(i: int, route: RouteMode = RouteMode.PRIMARY) -> Prediction:
    features = {"x": i if i % 3 else i + 0.5, "day": f"2026-01-{1 + i % 28:02d}", "city": "nice"}
    if i % 4 == 0:
        features["extra"] = None
    return Prediction(f"{i:032x}", "api", "clf", 1 + (route is RouteMode.CANARY), route,
                      T0 + timedelta(seconds=i), features, i % 2, 1.0)  # fmt: skip


def test_columns_and_records_give_the_same_window(workspace) -> None:
    workspace.store.deployments.create("api", [Route("clf", 1, RouteMode.PRIMARY)], actor="t")
    rows = [_prediction(i, RouteMode.SHADOW if i % 5 == 4 else RouteMode.PRIMARY)
            for i in range(40)] + [_prediction(40, RouteMode.CANARY)]  # fmt: skip
    workspace.store.predictions.log(rows)
    workspace.store.predictions.add_labels([Label(f"{i:032x}", i % 3) for i in range(0, 40, 7)])

    fast = window.read_window(workspace, "api", last=30)
    records = workspace.store.predictions.query(deployment="api", limit=30, newest=True)
    slow = window._window([p for p in records if p.route.value != "shadow"], fast.label)
    assert fast.features.num_rows == slow.features.num_rows == 24
    assert fast.features.select(slow.features.column_names).to_pylist() == \
        slow.features.to_pylist()  # fmt: skip
    assert fast.features.schema.field("day").type == pa.string()  # not read as a timestamp
    assert fast.features.schema.field("x").type == pa.float64()
    assert (fast.outputs, fast.labeled_outputs, fast.labels, fast.models) == (
        slow.outputs, slow.labeled_outputs, slow.labels, slow.models)  # fmt: skip
    assert fast.models == ["clf/1", "clf/2"] and fast.labels


def test_features_types_and_conflicts() -> None:
    table = window._features(['{"a": 1, "b": "x"}', '{"a": 2.5, "c": [1, 2]}', "{}"])
    assert table.to_pylist() == [{"a": 1.0, "b": "x", "c": None},
                                 {"a": 2.5, "b": None, "c": [1, 2]},
                                 {"a": None, "b": None, "c": None}]  # fmt: skip
    assert window._features([]).num_rows == 0
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):  # as pa.Table.from_pylist does
        window._features(['{"a": 1}', '{"a": "one"}'])
