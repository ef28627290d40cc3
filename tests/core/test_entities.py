from __future__ import annotations

import json
import math
import pickle
from datetime import UTC, datetime

import pytest

from loopml.core.entities import FrozenDict, Metric, Run, RunStatus, to_dict


def test_frozen_dict_is_a_dict_that_refuses_changes() -> None:
    frozen = FrozenDict({"a": 1})
    assert isinstance(frozen, dict) and frozen == {"a": 1}
    assert json.dumps(frozen) == '{"a": 1}'
    for mutate in (
        lambda: frozen.__setitem__("b", 2),
        lambda: frozen.update(b=2),
        lambda: frozen.pop("a"),
        frozen.clear,
    ):
        with pytest.raises(TypeError):
            mutate()
    assert pickle.loads(pickle.dumps(frozen)) == frozen


def test_metric_equality_treats_nan_as_equal() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert Metric("x", math.nan, 0, when) == Metric("x", math.nan, 0, when)
    assert Metric("x", 1.0, 0, when) != Metric("x", 2.0, 0, when)


def test_to_dict_is_json_ready() -> None:
    run = Run("id", "p", "n", RunStatus.FINISHED, datetime(2026, 1, 1, tzinfo=UTC),
              metrics=FrozenDict({"loss": math.inf}))  # fmt: skip
    data = json.loads(json.dumps(to_dict(run)))
    assert data["status"] == "FINISHED" and data["start_time"].startswith("2026-01-01")
    assert data["metrics"] == {"loss": "inf"}
