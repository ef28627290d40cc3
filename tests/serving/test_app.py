"""The serving HTTP API against a real server on loopback."""

from __future__ import annotations

import time

import pytest

import loopml
from tests.serving import models
from tests.serving.conftest import FEATURES

ROWS = FEATURES.head(3).to_dict("records")


def test_predict_answers_with_ids_and_version_and_logs(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace)
    response = server.client.post("/predict", json={"instances": ROWS})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "iris" and body["model_version"] == 1
    assert body["predictions"] == [0, 0, 0]
    assert len(body["prediction_ids"]) == 3 and len(set(body["prediction_ids"])) == 3
    server.service.logger.flush()
    logged = iris_workspace.store.predictions.query(deployment="iris-api")
    assert [p.id for p in logged] == body["prediction_ids"]
    assert logged[0].features == ROWS[0] and logged[0].output == 0
    assert logged[0].route == "primary" and logged[0].latency_ms > 0


def test_open_inference_protocol_v2(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace)
    assert server.client.get("/v2/health/live").json() == {"live": True}
    meta = server.client.get("/v2/models/iris-api").json()
    assert meta["versions"] == ["1"] and [i["name"] for i in meta["inputs"]] == list(FEATURES)
    columns = [{"name": c, "shape": [3], "datatype": "FP64", "data": FEATURES[c].head(3).tolist()}
               for c in FEATURES]  # fmt: skip
    answer = server.client.post("/v2/models/iris/infer", json={"id": "r1", "inputs": columns})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == "r1" and body["model_version"] == "1"
    assert body["outputs"][0]["data"] == [0, 0, 0]
    matrix = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP64",
                          "data": FEATURES.head(2).to_numpy().ravel().tolist()}]}  # fmt: skip
    assert server.client.post("/v2/models/iris-api/infer", json=matrix).status_code == 200
    assert server.client.get("/v2/models/other").status_code == 404


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        ({"instances": [{"sepal_length": 1.0}]}, {}, 422, "missing column 'sepal_width'"),
        ({"instances": [{**ROWS[0], "petal_width": "wide"}]}, {}, 422, "'petal_width' is string"),
        ({"rows": []}, {}, 422, "instances"),
        (b"{not json", {"content-type": "application/json"}, 400, "malformed JSON"),
        (b"x=1", {"content-type": "application/x-www-form-urlencoded"}, 415, "content type"),
        (b"\x80\x04", {"content-type": "application/python-pickle"}, 415, "content type"),
    ],
)
def test_bad_requests(iris_workspace, start_server, body, headers, status, fragment) -> None:
    server = start_server(iris_workspace)
    if isinstance(body, bytes):
        response = server.client.post("/predict", content=body, headers=headers)
    else:
        response = server.client.post("/predict", json=body)
    assert response.status_code == status
    assert fragment in response.json()["error"]


def test_body_over_the_limit_is_413(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace, max_body_bytes=1000)
    big = {"instances": ROWS * 100}
    response = server.client.post("/predict", json=big)
    assert response.status_code == 413 and "limit" in response.json()["error"]


def test_feedback_is_joined_to_predictions(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace)
    ids = server.client.post("/predict", json={"instances": ROWS}).json()["prediction_ids"]
    labels = [{"prediction_id": ids[0], "label": 0}, {"prediction_id": "f" * 32, "label": 1}]
    answer = server.client.post("/feedback", json=labels)
    assert answer.status_code == 200
    assert answer.json() == {"stored": 1, "unknown_prediction_ids": ["f" * 32]}
    labeled = iris_workspace.store.predictions.query(deployment="iris-api", labeled=True)
    assert [(p.id, p.label) for p in labeled] == [(ids[0], 0)]
    only_unknown = server.client.post("/feedback", json=[{"prediction_id": "e" * 32, "label": 1}])
    assert only_unknown.status_code == 404
    assert server.client.post("/feedback", json={"x": 1}).status_code == 422


def _deploy(workspace, name: str, model: object) -> None:
    loopml.registry.register(name, model, trust=True, workspace=workspace)
    loopml.deployments.create(name, f"{name}/1", workspace=workspace)


def test_model_error_is_500_with_an_error_id_and_no_details(workspace, start_server) -> None:
    _deploy(workspace, "broken", models.Broken())
    server = start_server(workspace, "broken", trust=True)
    response = server.client.post("/predict", json={"instances": [{"x": 1}]})
    assert response.status_code == 500
    body = response.json()
    assert body["error_id"] and "secret" not in response.text and "Traceback" not in response.text
    server.service.logger.flush()  # failures are logged off the request path, like predictions
    assert workspace.store.predictions.failure_count("broken", model="broken", version=1) == 1
    assert workspace.store.predictions.count("broken") == 0


def test_slow_model_is_504_and_the_server_stays_free(workspace, start_server) -> None:
    _deploy(workspace, "slow", models.Slow(3.0))
    server = start_server(workspace, "slow", trust=True, request_timeout=0.3)
    response = server.client.post("/predict", json={"instances": [{"x": 1}]})
    assert response.status_code == 504
    assert server.client.get("/v2/health/live").status_code == 200


def test_overload_is_503_with_retry_after(workspace, start_server) -> None:
    import concurrent.futures

    _deploy(workspace, "slow", models.Slow(2.0))  # slow enough that the requests overlap
    server = start_server(workspace, "slow", trust=True, max_concurrency=1, max_queue=1)
    body = {"instances": [{"x": 1}]}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: server.client.post("/predict", json=body), range(8)))
    codes = sorted(a.status_code for a in answers)
    assert 200 in codes and 503 in codes
    refused = next(a for a in answers if a.status_code == 503)
    assert refused.headers["retry-after"] == "1"


def test_metrics_are_prometheus_text(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace)
    server.client.post("/predict", json={"instances": ROWS})
    text = server.client.get("/metrics").text
    assert (
        'loopml_requests_total{model="iris",route="primary",status="200",version="1"} 1.0' in text
    )
    assert "loopml_request_latency_seconds_bucket" in text
    assert "loopml_prediction_log_queue_depth" in text


def test_token_is_required_when_set(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace, token="s3cret")
    assert server.client.post("/predict", json={"instances": ROWS}).status_code == 401
    headers = {"authorization": "Bearer s3cret"}
    assert server.client.post("/predict", json={"instances": ROWS}, headers=headers).is_success
    assert server.client.get("/v2/health/ready").status_code == 200  # probes stay open


def test_canary_shadow_and_live_changes(workspace, start_server) -> None:
    for value in (0, 1, 2):
        loopml.registry.register("const", models.Constant(value), trust=True, workspace=workspace)
    loopml.deployments.create("api", "const/1", workspace=workspace)
    server = start_server(workspace, "api", trust=True, watch_interval=0.2)
    loopml.deployments.set_canary("api", "const/2", traffic=0.5, workspace=workspace)
    loopml.deployments.set_shadow("api", "const/3", workspace=workspace)
    deadline = time.monotonic() + 5
    while server.service.table.revision != 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.service.table.revision == 3  # applied within the watch interval
    versions = [
        server.client.post("/predict", json={"instances": [{"x": i}]}).json()["model_version"]
        for i in range(60)
    ]
    assert set(versions) == {1, 2}  # the shadow never answers
    keyed = {
        server.client.post("/predict", json={"instances": [{"x": 1}]},
                           headers={"x-request-key": "user-7"}).json()["model_version"]
        for _ in range(10)
    }  # fmt: skip
    assert len(keyed) == 1
    time.sleep(0.3)
    server.service.logger.flush()
    shadowed = workspace.store.predictions.query(deployment="api", version=3)
    assert shadowed and all(p.route == "shadow" and p.output == 2 for p in shadowed)
    loopml.deployments.promote("api", workspace=workspace)
    deadline = time.monotonic() + 5
    while server.service.table.revision != 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    answer = server.client.post("/predict", json={"instances": [{"x": 1}]}).json()
    assert answer["model_version"] == 2
