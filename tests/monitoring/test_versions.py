"""During a canary the report scores each version on its own answers: the canary's wrong
answers never count as the primary's."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

import loopml
from loopml.core.entities import FrozenDict
from loopml.core.serving import Label, Prediction, RouteMode
from tests.monitoring.helpers import FEATURES, deploy_iris
from tests.serving.conftest import iris_frame


def _serve(workspace, version: int, mode: RouteMode, rows: pd.DataFrame, outputs) -> None:
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    predictions = [Prediction(uuid.uuid4().hex, "iris-api", "iris", version, mode, now, row,
                              int(out), 1.0)
                   for row, out in zip(rows.to_dict("records"), outputs, strict=True)]  # fmt: skip
    workspace.store.predictions.log(predictions)
    truth = iris_frame().loc[rows.index, "target"]
    workspace.store.predictions.add_labels(
        [Label(p.id, int(y)) for p, y in zip(predictions, truth, strict=True)]
    )


@pytest.fixture
def canaried(workspace, tmp_path):
    model = deploy_iris(workspace, tmp_path)
    loopml.registry.register("iris", model, input_example=FEATURES.head(), workspace=workspace)
    loopml.deployments.set_canary("iris-api", "iris/2", traffic=0.2, workspace=workspace)
    truth = iris_frame()["target"]
    _serve(workspace, 1, RouteMode.PRIMARY, FEATURES.iloc[:120], truth.iloc[:120])  # all right
    wrong = (truth.iloc[120:] + 1) % 3  # the canary answers every row wrongly
    _serve(workspace, 2, RouteMode.CANARY, FEATURES.iloc[120:], wrong)
    return workspace


def test_each_version_is_scored_on_its_own_answers(canaried) -> None:
    report = loopml.monitoring.check("iris-api", workspace=canaried)
    assert report.model == "iris/1"
    assert report.performance.rows == 120 and report.performance.metrics["accuracy"] == 1.0
    assert set(report.versions) == {"iris/1", "iris/2"}
    assert report.versions["iris/2"].rows == 30
    assert report.versions["iris/2"].metrics["accuracy"] == 0.0
    stored = canaried.store.monitoring.get(report.id)
    assert stored.versions["iris/2"].metrics["accuracy"] == 0.0  # kept in the store


def test_asking_for_the_canary_scores_the_canary(canaried) -> None:
    report = loopml.monitoring.check("iris-api", "iris", model_version=2, workspace=canaried)
    assert report.model == "iris/2" and report.performance.metrics["accuracy"] == 0.0
    assert set(report.versions) == {"iris/2"}


def test_the_estimate_is_reported_beside_the_realised_performance(workspace, tmp_path) -> None:
    model = deploy_iris(workspace, tmp_path)
    rows = FEATURES.iloc[:100]
    scores = loopml.registry.load("iris/1", workspace=workspace).score(rows)
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    workspace.store.predictions.log([
        Prediction(uuid.uuid4().hex, "iris-api", "iris", 1, RouteMode.PRIMARY, now, row,
                   int(out), 1.0, probabilities=FrozenDict(proba))
        for row, out, proba in zip(rows.to_dict("records"), scores.predictions,
                                   scores.by_class(), strict=True)
    ])  # fmt: skip
    report = loopml.monitoring.check("iris-api", workspace=workspace)
    assert not report.performance.available  # no label yet
    assert report.estimated.available and report.estimated.rows == 100
    assert report.estimated.metrics["accuracy"] > 0.8  # a confident, right model
    assert workspace.store.monitoring.get(report.id).estimated == report.estimated
    assert model is not None
