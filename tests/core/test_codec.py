"""Records survive encode -> JSON text -> decode unchanged, whatever they nest."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.core.codec import decode, encode
from loopml.core.entities import FrozenDict
from loopml.core.errors import InvalidArgumentError
from loopml.core.loops import LoopEvent, LoopState, Phase
from loopml.core.serving import Prediction, RouteMode
from loopml.workspace import Workspace


def round_trip(value: object) -> object:
    return decode(json.loads(json.dumps(encode(value), allow_nan=False)))


def test_records_from_a_real_workspace_round_trip(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path)
    frame = pd.DataFrame(
        {"x": [0.1, 0.5, 0.9, 0.3], "city": ["a", "b", "a", None], "y": [0, 1, 1, 0]}
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    dataset = loopml.datasets.add("d", tmp_path / "d.csv", workspace=ws)
    with loopml.start_run(project="p", name="r", workspace=ws) as run:
        run.log_params({"C": 1.0})
        run.log_metric("acc", 0.9, step=3)
        run.use_dataset("d", version=1)
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    version = loopml.registry.register("m", model, input_example=frame[["x"]], workspace=ws)
    deployment = loopml.deployments.create("api", "m/1", workspace=ws)
    records = [
        ws.store.runs.get(run.id), ws.store.runs.metric_history(run.id, "acc"), dataset,
        ws.store.datasets.get_version("d", 1), version, deployment,
        ws.store.deployments.revisions("api"), ws.store.audit.events(),
    ]  # fmt: skip
    for record in records:
        assert round_trip(record) == record


def test_nested_values_keep_their_types() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    state = LoopState("api", Phase.CANARY, 3, decision=FrozenDict({"delta": 0.1, "ok": [1, 2]}),
                      cycle_time=now, cursors=FrozenDict({"new_data:tx": 4}))  # fmt: skip
    event = LoopEvent("api", 1, Phase.PROMOTED, now, "ok", FrozenDict({"n": float("nan")}))
    prediction = Prediction("p" * 32, "api", "m", 2, RouteMode.CANARY, now,
                            FrozenDict({"x": 1.5, "s": None}), [0.2, 0.8], 1.25)  # fmt: skip
    assert round_trip(state) == state and round_trip(prediction) == prediction
    back = round_trip(event)
    assert back.time == now and math.isnan(back.details["n"])
    odd = {"t": (1, "a"), "b": b"\x00\xff", 1: "int key", "$x": "dollar key"}
    assert round_trip(odd) == odd and isinstance(round_trip(odd)["t"], tuple)


@pytest.mark.parametrize(
    "document",
    [{"$type": "Nope"}, {"$type": "Run", "bogus": 1}, {"$enum": "FrozenDict", "value": 1},
     {"$type": "FrozenDict"}],
)  # fmt: skip
def test_unknown_or_malformed_records_are_refused(document: dict) -> None:
    with pytest.raises(InvalidArgumentError):
        decode(document)


def test_values_it_cannot_represent_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="cannot encode a object"):
        encode(object())
