"""A classifier's probabilities are served (/predict, Open Inference Protocol v2), logged
with each prediction, written by batch prediction, and are what live ranking metrics use."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn import metrics
from sklearn.linear_model import LinearRegression, LogisticRegression

import loopml
from loopml.monitoring.performance import performance
from loopml.serving.batch import predict_batch
from tests.serving.conftest import FEATURES

ROWS = FEATURES.iloc[[0, 60, 120]].to_dict("records")


def test_predict_serves_and_logs_probabilities(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace)
    body = server.client.post("/predict", json={"instances": ROWS}).json()
    expected = loopml.registry.load("iris/1", workspace=iris_workspace).predict_proba(ROWS)
    assert [sorted(p) for p in body["probabilities"]] == [["0", "1", "2"]] * 3
    got = np.array([[p[c] for c in ("0", "1", "2")] for p in body["probabilities"]])
    np.testing.assert_allclose(got, expected)
    assert body["predictions"] == list(got.argmax(axis=1))
    server.service.logger.flush()
    logged = iris_workspace.store.predictions.query(deployment="iris-api")
    assert [dict(p.probabilities) for p in logged] == body["probabilities"]


def test_open_inference_protocol_outputs_a_probability_tensor(iris_workspace, start_server):
    server = start_server(iris_workspace)
    meta = server.client.get("/v2/models/iris-api").json()
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    inputs = [{"name": "input", "shape": [3, 4], "datatype": "FP64",
               "data": pd.DataFrame(ROWS).to_numpy().ravel().tolist()}]  # fmt: skip
    body = server.client.post("/v2/models/iris-api/infer", json={"inputs": inputs}).json()
    proba = body["outputs"][1]
    assert proba["name"] == "predict_proba" and proba["shape"] == [3, 3]
    assert proba["datatype"] == "FP64"  # a parameter is a string, number or boolean: JSON text
    assert json.loads(proba["parameters"]["classes"]) == ["0", "1", "2"]
    np.testing.assert_allclose(np.reshape(proba["data"], (3, 3)).sum(axis=1), 1.0)


def test_a_regressor_has_no_probabilities(workspace, start_server) -> None:
    model = LinearRegression().fit(FEATURES, FEATURES["petal_width"] * 2)
    loopml.registry.register("reg", model, input_example=FEATURES.head(), workspace=workspace)
    loopml.deployments.create("reg-api", "reg/1", workspace=workspace)
    server = start_server(workspace, "reg-api")
    body = server.client.post("/predict", json={"instances": ROWS}).json()
    assert "probabilities" not in body and len(body["predictions"]) == 3


def test_batch_prediction_keeps_row_positions_and_probabilities(iris_workspace, tmp_path):
    source = tmp_path / "in.parquet"
    FEATURES.to_parquet(source)
    result = predict_batch(
        "iris/1", source, tmp_path / "out.parquet", chunk_rows=40, workspace=iris_workspace
    )
    table = pq.read_table(result.output).to_pandas()
    assert table["input_row"].tolist() == list(range(len(FEATURES)))
    assert set(table["input_file"]) == {"in.parquet"}
    model = loopml.registry.load("iris/1", workspace=iris_workspace)
    proba = table[["proba_0", "proba_1", "proba_2"]].to_numpy()
    np.testing.assert_allclose(proba, model.predict_proba(FEATURES))


@pytest.fixture
def overlapping() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary labels and a noisy score: hard labels throw the ranking away."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 2000)
    score = 1 / (1 + np.exp(-(1.7 * (y * 2 - 1) + rng.normal(0, 1.6, len(y)))))
    return y, score, (score > 0.5).astype(int)


def test_live_roc_auc_comes_from_probabilities(overlapping) -> None:
    y, score, hard = overlapping
    probabilities = [{"0": 1 - s, "1": s} for s in score]
    perf = performance(hard.tolist(), y.tolist(), probabilities=probabilities)
    assert perf.metrics["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, score))
    assert perf.metrics["log_loss"] == pytest.approx(metrics.log_loss(y, score))
    hard_auc = metrics.roc_auc_score(y, hard)  # what used to be reported as roc_auc
    assert abs(perf.metrics["roc_auc"] - hard_auc) > 0.05


def test_no_roc_auc_without_probabilities(overlapping) -> None:
    y, _, hard = overlapping
    perf = performance(hard.tolist(), y.tolist())
    assert "roc_auc" not in perf.metrics and "accuracy" in perf.metrics


def test_labels_match_classes_whatever_their_type() -> None:
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    q = model.predict_proba([[0.2], [2.9], [1.2], [1.8]])
    probabilities = [{"0": a, "1": b} for a, b in q]
    for labels in ([0, 1, 0, 1], [0.0, 1.0, 0.0, 1.0], ["0", "1", "0", "1"]):
        perf = performance([0, 1, 0, 1], labels, probabilities=probabilities)
        assert perf.metrics["roc_auc"] == 1.0, labels
