"""`loopml.monitoring.check` on a served deployment: reference found through lineage,
current data from the prediction log, performance once labels arrive, reports stored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.core.serving import Label, Prediction, RouteMode
from tests.serving.conftest import iris_frame


@pytest.fixture
def deployed(workspace, tmp_path):
    frame = iris_frame()
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    loopml.datasets.add("iris", path, workspace=workspace)
    features = frame.drop(columns=["target"])
    with loopml.start_run(project="iris", workspace=workspace) as run:
        run.use_dataset("iris", 1)
        model = LogisticRegression(max_iter=500).fit(features, frame["target"])
        loopml.registry.register("iris", model, input_example=features.head(),
                                 metrics={"accuracy": 0.97}, workspace=workspace)  # fmt: skip
    loopml.deployments.create("iris-api", "iris/1", workspace=workspace)
    return workspace, model, features


def _log(workspace, model, rows: pd.DataFrame, start: int = 0) -> list[str]:
    outputs = model.predict(rows)
    predictions = [
        Prediction(f"{start + i:032x}", "iris-api", "iris", 1, RouteMode.PRIMARY,
                   pd.Timestamp.now(tz="UTC").to_pydatetime(), row, int(out), 1.0)
        for i, (row, out) in enumerate(zip(rows.to_dict("records"), outputs, strict=True))
    ]  # fmt: skip
    workspace.store.predictions.log(predictions)
    return [p.id for p in predictions]


def test_no_drift_on_the_training_distribution(deployed) -> None:
    workspace, model, features = deployed
    _log(workspace, model, features.sample(150, random_state=0))
    report = loopml.monitoring.check("iris-api", workspace=workspace)
    assert report.reference == "dataset iris@1" and report.model == "iris/1"
    assert set(report.columns) == set(features.columns)  # the label column is not a feature
    assert not report.dataset_drift and report.drift_share == 0
    assert report.prediction_drift is not None and not report.prediction_drift.drifted
    assert not report.performance.available
    assert "no labels" in report.performance.reason
    assert loopml.monitoring.history("iris-api", workspace=workspace)[0].id == report.id


def test_shifted_traffic_drifts_and_labels_give_performance(deployed) -> None:
    workspace, model, features = deployed
    shifted = features.sample(150, random_state=1) * np.array([1.0, 1.0, 1.6, 2.0])
    ids = _log(workspace, model, shifted)
    workspace.store.predictions.add_labels([Label(i, 0) for i in ids[:50]])
    report = loopml.monitoring.check("iris-api", window=1_000, workspace=workspace)
    assert report.dataset_drift and set(report.drifted_columns) >= {"petal_length", "petal_width"}
    assert report.performance.available and report.performance.rows == 50
    assert report.performance.task == "classification"
    assert 0 <= report.performance.metrics["accuracy"] <= 1
    assert report.performance.training_metrics == {"accuracy": 0.97}
    stored = workspace.store.monitoring.get(report.id)
    assert stored == report


def test_frames_against_a_dataset_version(deployed) -> None:
    workspace, _, features = deployed
    report = loopml.monitoring.check(features.assign(sepal_length=features.sepal_length + 3),
                                     reference="iris@1", workspace=workspace)  # fmt: skip
    assert report.columns["sepal_length"].drifted and not report.columns["sepal_width"].drifted
    assert report.target == "frame"
    with pytest.raises(loopml.InvalidArgumentError, match="reference="):
        loopml.monitoring.check(features, workspace=workspace)
    with pytest.raises(loopml.NotFoundError, match="deployment 'nope'"):
        loopml.monitoring.check("nope", workspace=workspace)
