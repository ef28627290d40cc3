"""A PyTorch classifier served end to end: /predict, the inference protocol, batch files."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

import loopml
from loopml.serving.batch import predict_batch
from tests.conftest import require
from tests.serving.conftest import FEATURES

ROWS = FEATURES.head(3).to_dict("records")


@pytest.fixture
def torch_workspace(workspace) -> Any:
    if importlib.util.find_spec("torch") is None:
        require("torch", "pip install 'loopml[torch]'")
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model = loopml.registry.torch_model(net, task="classification",
                                        classes=["setosa", "versicolor", "virginica"])  # fmt: skip
    loopml.registry.register("iris-net", model, input_example=FEATURES.head(), workspace=workspace)
    loopml.deployments.create("net-api", "iris-net/1", workspace=workspace)
    return workspace


def _expected(workspace, rows: Any) -> tuple[list[str], np.ndarray]:
    model = loopml.registry.load("iris-net/1", workspace=workspace)
    return model.predict(rows).tolist(), model.predict_proba(rows)


def test_predict_serves_classes_and_probabilities(torch_workspace, start_server) -> None:
    server = start_server(torch_workspace, "net-api")
    response = server.client.post("/predict", json={"instances": ROWS})
    assert response.status_code == 200, response.text
    body = response.json()
    classes, proba = _expected(torch_workspace, FEATURES.head(3))
    assert body["predictions"] == classes and body["model"] == "iris-net"
    got = [[row[c] for c in ("setosa", "versicolor", "virginica")] for row in body["probabilities"]]
    np.testing.assert_allclose(got, proba, rtol=1e-6)
    bad = server.client.post("/predict", json={"instances": [{"sepal_length": 1.0}]})
    assert bad.status_code == 422 and "missing column" in bad.json()["error"]


def test_open_inference_protocol_with_a_float_matrix(torch_workspace, start_server) -> None:
    server = start_server(torch_workspace, "net-api")
    meta = server.client.get("/v2/models/net-api").json()
    assert meta["platform"] == "loopml_pytorch"
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    matrix = FEATURES.head(2).to_numpy()
    request = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                           "data": matrix.ravel().tolist()}]}  # fmt: skip
    answer = server.client.post("/v2/models/net-api/infer", json=request)
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    classes, proba = _expected(torch_workspace, FEATURES.head(2))
    assert outputs["predict"]["data"] == classes
    assert outputs["predict_proba"]["shape"] == [2, 3]
    assert json.loads(outputs["predict_proba"]["parameters"]["classes"]) == [
        "setosa", "versicolor", "virginica"]  # fmt: skip
    np.testing.assert_allclose(outputs["predict_proba"]["data"], proba.ravel(), rtol=1e-6)


def test_batch_prediction_with_a_torch_model(torch_workspace, tmp_path) -> None:
    source = tmp_path / "in.parquet"
    FEATURES.to_parquet(source)
    result = predict_batch("iris-net/1", source, tmp_path / "out.parquet", chunk_rows=40,
                           workspace=torch_workspace)  # fmt: skip
    table = pq.read_table(result.output).to_pandas()
    classes, proba = _expected(torch_workspace, FEATURES)
    assert table["input_row"].tolist() == list(range(len(FEATURES)))
    assert table["prediction"].tolist() == classes
    columns = ["proba_setosa", "proba_versicolor", "proba_virginica"]
    np.testing.assert_allclose(table[columns].to_numpy(), proba, rtol=1e-6)


def test_a_transformers_text_classifier_serves_text_rows(
    workspace, start_server, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the model is built here, never downloaded
    for module in ("torch", "transformers"):
        if importlib.util.find_spec(module) is None:
            require(module, "pip install 'loopml[torch,transformers]'")
    import pandas as pd

    from tests.registry.test_flavor_transformers import tiny

    texts = pd.DataFrame({"text": ["good movie", "the awful film"]})
    model = loopml.registry.transformers_model(*tiny(tmp_path))
    loopml.registry.register("bert", model, input_example=texts, workspace=workspace)
    loopml.deployments.create("bert-api", "bert/1", workspace=workspace)
    server = start_server(workspace, "bert-api")
    body = server.client.post("/predict", json={"instances": texts.to_dict("records")}).json()
    loaded = loopml.registry.load("bert/1", workspace=workspace)
    assert body["predictions"] == loaded.predict(texts).tolist()
    got = [[row["neg"], row["pos"]] for row in body["probabilities"]]
    np.testing.assert_allclose(got, loaded.predict_proba(texts), rtol=1e-6)
    source = tmp_path / "texts.parquet"
    texts.to_parquet(source)
    result = predict_batch("bert/1", source, tmp_path / "out.parquet", workspace=workspace)
    assert pq.read_table(result.output).to_pandas()["prediction"].tolist() == body["predictions"]


def test_a_keras_model_serves_and_predicts_in_batch(workspace, start_server, tmp_path) -> None:
    for module in ("torch", "keras"):
        if importlib.util.find_spec(module) is None:
            require(module, "pip install 'loopml[torch,keras]'")
    from loopml.registry.flavors.keras import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model = loopml.registry.keras_model(net, task="regression")
    loopml.registry.register("k", model, input_example=FEATURES.head(), workspace=workspace)
    loopml.deployments.create("k-api", "k/1", workspace=workspace)
    server = start_server(workspace, "k-api")
    body = server.client.post("/predict", json={"instances": ROWS}).json()
    expected = net.predict(FEATURES.head(3).to_numpy(dtype=np.float32), verbose=0)[:, 0]
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-5)
    assert "probabilities" not in body
    source = tmp_path / "in.parquet"
    FEATURES.to_parquet(source)
    result = predict_batch("k/1", source, tmp_path / "out.parquet", workspace=workspace)
    table = pq.read_table(result.output).to_pandas()
    np.testing.assert_allclose(table["prediction"].head(3), expected, rtol=1e-5)


def test_a_tensor_model_serves_flattened_rows(workspace, start_server, tmp_path) -> None:
    """A [-1, 2, 3] tensor signature: rows of six values ("0".."5", row-major) in /predict,
    an [n, 6] inference tensor and a batch file all reach the model as [n, 2, 3]."""
    if importlib.util.find_spec("torch") is None:
        require("torch", "pip install 'loopml[torch]'")
    import pandas as pd
    import torch

    torch.manual_seed(5)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
    images = torch.rand(4, 2, 3)
    loopml.registry.register("img", net, input_example=images, workspace=workspace)
    loopml.deployments.create("img-api", "img/1", workspace=workspace)
    with torch.no_grad():
        expected = net(images).numpy()
    flat = images.reshape(4, 6).numpy().astype(np.float64)
    columns = [str(i) for i in range(6)]
    server = start_server(workspace, "img-api")
    rows = pd.DataFrame(flat, columns=columns).to_dict("records")
    body = server.client.post("/predict", json={"instances": rows}).json()
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-5)
    request = {"inputs": [{"name": "x", "shape": [4, 6], "datatype": "FP32",
                           "data": flat.ravel().tolist()}]}  # fmt: skip
    answer = server.client.post("/v2/models/img-api/infer", json=request)
    assert answer.status_code == 200, answer.text
    output = answer.json()["outputs"][0]
    assert output["shape"] == [4, 2]
    np.testing.assert_allclose(output["data"], expected.ravel(), rtol=1e-5)
    source = tmp_path / "images.parquet"
    pd.DataFrame(flat, columns=columns).to_parquet(source)
    result = predict_batch("img/1", source, tmp_path / "out.parquet", workspace=workspace)
    got = np.array(pq.read_table(result.output).to_pandas()["prediction"].tolist())
    np.testing.assert_allclose(got, expected, rtol=1e-5)
