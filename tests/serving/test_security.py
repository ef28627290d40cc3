"""Issue 14, serving items, against a real server on loopback: the Host allow-list (DNS
rebinding), cross-origin POSTs (CSRF), labels for another deployment's predictions (item 3);
a slow model that leaves every worker stuck (item 5); null/NaN/infinite inputs and outputs,
deeply nested JSON, and a JSON body on every error (item 9)."""

from __future__ import annotations

import json
import math
import re
import socket
import time
from collections.abc import Callable

import httpx
import pandas as pd
import pytest

import loopml
from tests.serving import models
from tests.serving.conftest import FEATURES

pytestmark = pytest.mark.security

ROWS = FEATURES.head(2).to_dict("records")
EVIL = {"host": "evil.example.com"}


def _deploy(workspace, name: str, model: object, example: pd.DataFrame | None = None) -> None:
    loopml.registry.register(name, model, trust=True, input_example=example, workspace=workspace)
    loopml.deployments.create(name, f"{name}/1", workspace=workspace)


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _json_error(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()["error"]


# -- item 3: Host allow-list ------------------------------------------------------------------
def test_other_hosts_are_refused_on_every_route_but_health(iris_workspace, start_server) -> None:
    from loopml.serving.server import host_name

    server = start_server(iris_workspace)
    port = server.url.rsplit(":", 1)[1]
    calls = [
        ("POST", "/predict", {"instances": ROWS}),
        ("POST", "/feedback", [{"prediction_id": "f" * 32, "label": 1}]),
        ("POST", "/v2/models/iris-api/infer", {"inputs": []}),
        ("GET", "/v2/models/iris-api", None),
        ("GET", "/metrics", None),
        ("GET", "/no/such/path", None),
    ]
    for method, path, body in calls:
        for host in ("evil.example.com", "evil.example.com:80", f"127.0.0.1.nip.io:{port}"):
            response = server.client.request(method, path, json=body, headers={"host": host})
            assert response.status_code == 400, (path, host, response.text)
            assert host_name(host) in _json_error(response)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}"):
        response = server.client.post("/predict", json={"instances": ROWS}, headers={"host": host})
        assert response.status_code == 200, (host, response.text)
    for probe in ("/v2/health/live", "/v2/health/ready"):  # probes answer for any Host
        assert server.client.get(probe, headers=EVIL).status_code == 200
    labeled = iris_workspace.store.predictions.query(deployment="iris-api", labeled=True)
    assert labeled == []
    assert 'loopml_errors_total{reason="400"}' in server.client.get("/metrics").text


def test_a_public_bind_answers_this_machines_names_and_allowed_hosts(
    iris_workspace, start_server
) -> None:
    from loopml.serving.server import allowed_hosts

    server = start_server(iris_workspace, bind="0.0.0.0",
                          allowed_hosts=("api.example.com", "Models.Example.COM"))  # fmt: skip
    body = {"instances": ROWS}
    names = [socket.gethostname(), "api.example.com", "models.example.com:443", "127.0.0.1"]
    for host in names:
        response = server.client.post("/predict", json=body, headers={"host": host})
        assert response.status_code == 200, (host, response.text)
    refused = server.client.post("/predict", json=body, headers=EVIL)
    assert refused.status_code == 400 and "evil.example.com" in _json_error(refused)
    assert "--allowed-host" in _json_error(refused)
    # a pod's probes and peers use its IP: the address it reaches the network by is allowed
    hosts = allowed_hosts("0.0.0.0")
    assert socket.gethostname().lower() in hosts and "localhost" in hosts
    assert allowed_hosts("10.1.2.3") >= {"10.1.2.3", "localhost"}
    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert "*" in allowed_hosts("127.0.0.1", ["*"])


def test_allowed_host_star_answers_any_host(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace, allowed_hosts=("*",))
    response = server.client.post("/predict", json={"instances": ROWS}, headers=EVIL)
    assert response.status_code == 200


def test_serve_cli_takes_allowed_hosts(monkeypatch) -> None:
    from typer.testing import CliRunner

    import loopml.serving.server
    from loopml.cli.main import app

    seen: dict = {}
    monkeypatch.setattr(loopml.serving.server, "serve",
                        lambda deployment, **options: seen.update(options))  # fmt: skip
    result = CliRunner().invoke(app, ["serve", "api", "--allowed-host", "api.example.com",
                                      "--allowed-host", "10.0.0.7", "--allow-missing",
                                      "--threads", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    settings = seen["settings"]
    assert settings.allowed_hosts == ("api.example.com", "10.0.0.7")
    assert settings.allow_missing and settings.threads == 2


# -- item 3: cross-origin requests from browsers ----------------------------------------------
@pytest.mark.parametrize("path", ["/predict", "/feedback", "/v2/models/iris-api/infer"])
def test_browsers_posting_from_another_origin_are_refused(
    iris_workspace, start_server, path
) -> None:
    server = start_server(iris_workspace)
    predicted = server.client.post("/predict", json={"instances": ROWS}).json()
    bodies = {
        "/predict": {"instances": ROWS},
        "/feedback": [{"prediction_id": predicted["prediction_ids"][0], "label": 1}],
        "/v2/models/iris-api/infer": {"inputs": [{"name": c, "shape": [1], "datatype": "FP64",
                                                  "data": [ROWS[0][c]]} for c in FEATURES]},
    }  # fmt: skip
    foreign = [
        {"origin": "http://evil.example.com"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": server.url},  # another port of this host
    ]
    for headers in foreign:
        response = server.client.post(path, json=bodies[path], headers=headers)
        assert response.status_code == 403, (headers, response.text)
        assert "another" in _json_error(response)
    assert iris_workspace.store.predictions.query(deployment="iris-api", labeled=True) == []
    own = [{}, {"origin": server.url}, {"sec-fetch-site": "same-origin"}]
    for headers in own:  # curl and the loopml client send neither header
        response = server.client.post(path, json=bodies[path], headers=headers)
        assert response.status_code == 200, (headers, response.text)


# -- item 3: labels only for this deployment's predictions -------------------------------------
def test_feedback_refuses_labels_for_another_deployments_predictions(
    iris_workspace, start_server
) -> None:
    loopml.deployments.create("other-api", "iris@champion", workspace=iris_workspace)
    ours = start_server(iris_workspace)
    theirs = start_server(iris_workspace, "other-api")
    mine = ours.client.post("/predict", json={"instances": ROWS}).json()["prediction_ids"]
    other = theirs.client.post("/predict", json={"instances": ROWS}).json()["prediction_ids"]
    theirs.service.logger.flush()
    injected = ours.client.post("/feedback", json=[{"prediction_id": i, "label": 2}
                                                   for i in other])  # fmt: skip
    assert injected.status_code == 404
    assert injected.json() == {
        "stored": 0,
        "unknown_prediction_ids": other,
        "error": "no prediction of deployment 'iris-api' has these ids",
    }
    mixed = ours.client.post(
        "/feedback",
        json=[{"prediction_id": mine[0], "label": 0}, {"prediction_id": other[1], "label": 2}],
    )
    assert mixed.status_code == 200
    assert mixed.json() == {"stored": 1, "unknown_prediction_ids": [other[1]]}
    store = iris_workspace.store.predictions
    assert [p.id for p in store.query(labeled=True)] == [mine[0]]
    assert store.query(deployment="other-api", labeled=True) == []


# -- item 5: a slow model leaves every worker stuck --------------------------------------------
def test_stuck_workers_refuse_fast_and_readiness_recovers(workspace, start_server) -> None:
    _deploy(workspace, "sleepy", models.Sleepy())
    server = start_server(workspace, "sleepy", trust=True, threads=2, request_timeout=0.5)
    slow, fast = {"instances": [{"seconds": 3.0}]}, {"instances": [{"seconds": 0.0}]}

    assert server.client.post("/predict", json=slow).status_code == 504  # one worker stuck
    assert server.client.post("/predict", json=fast).status_code == 200  # the other answers
    assert server.client.post("/predict", json=slow).status_code == 504  # both stuck now
    assert _wait(lambda: server.client.get("/v2/health/ready").status_code == 503, 2.0)

    started = time.monotonic()
    refused = server.client.post("/predict", json=fast)
    assert time.monotonic() - started < 0.3  # refused at once, not after the timeout
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "stuck" in _json_error(refused)
    ready = server.client.get("/v2/health/ready")
    assert ready.status_code == 503 and "stuck" in ready.json()["error"]
    assert server.client.get("/v2/health/live").status_code == 200
    metrics = server.client.get("/metrics").text
    assert "loopml_model_workers 2.0" in metrics
    assert "loopml_model_workers_stuck 2.0" in metrics
    assert "loopml_model_workers_busy 2.0" in metrics
    assert re.search(r"loopml_saturated_refusals_total [1-9]", metrics)

    assert _wait(lambda: server.client.get("/v2/health/ready").status_code == 200, 6.0)
    assert server.client.post("/predict", json=fast).status_code == 200
    stuck_none = "loopml_model_workers_stuck 0.0"  # the second slow call ends a moment later
    assert _wait(lambda: stuck_none in server.client.get("/metrics").text, 3.0)


def test_liveness_fails_when_every_worker_stays_stuck(workspace, start_server) -> None:
    _deploy(workspace, "sleepy", models.Sleepy())
    server = start_server(workspace, "sleepy", trust=True, threads=1, request_timeout=0.2,
                          stuck_liveness=0.5)  # fmt: skip
    assert server.client.post("/predict", json={"instances": [{"seconds": 2.5}]}).status_code == 504
    assert _wait(lambda: server.client.get("/v2/health/live").status_code == 503, 2.0)
    assert "restart" in server.client.get("/v2/health/live").json()["error"]
    assert _wait(lambda: server.client.get("/v2/health/live").status_code == 200, 5.0)
    assert server.client.get("/v2/health/ready").status_code == 200


# -- item 9: nesting, null/NaN/infinity in and out, JSON errors -------------------------------
@pytest.mark.parametrize("path", ["/predict", "/feedback", "/v2/models/iris-api/infer"])
def test_deeply_nested_json_is_400(iris_workspace, start_server, path) -> None:
    server = start_server(iris_workspace)
    headers = {"content-type": "application/json"}
    deep = b"[" * 100_000 + b"]" * 100_000
    inside = json.dumps({"instances": [{**ROWS[0], "x": json.loads("[" * 40 + "]" * 40)}]})
    for body in (deep, b"[" * 100_000, inside.encode(), b'{"a":' * 50_000):
        response = server.client.post(path, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert "nested too deeply" in _json_error(response)
    brackets_in_strings = {"instances": [{**ROWS[0], "note": "[" * 1000}]}
    assert server.client.post("/predict", json=brackets_in_strings).status_code == 200
    assert server.client.get("/v2/health/live").status_code == 200


@pytest.mark.parametrize(
    ("value", "column"),
    [("null", "sepal_width"), ("NaN", "petal_length"), ("Infinity", "sepal_length"),
     ("-Infinity", "petal_width"), ("1e999", "sepal_width")],
)  # fmt: skip
def test_null_nan_and_infinity_in_numeric_columns_are_422(
    iris_workspace, start_server, value, column
) -> None:
    server = start_server(iris_workspace)
    row = ", ".join(f'"{c}": {value if c == column else 1.5}' for c in FEATURES)
    body = f'{{"instances": [{{{row}}}]}}'
    two_rows = f'{{"instances": [{json.dumps(ROWS[0])}, {{{row}}}]}}'
    for text in (body, two_rows):
        response = server.client.post(
            "/predict", content=text, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert repr(column) in _json_error(response)
    assert response.json()["row"] == 1 and response.json()["column"] == column
    tensors = ", ".join(
        f'{{"name": "{c}", "shape": [1], "datatype": "FP64", "data": [{value if c == column else 1.5}]}}'  # noqa: E501
        for c in FEATURES
    )
    v2 = server.client.post("/v2/models/iris-api/infer", content=f'{{"inputs": [{tensors}]}}',
                            headers={"content-type": "application/json"})  # fmt: skip
    assert v2.status_code == 422, v2.text
    assert repr(column) in _json_error(v2)
    server.service.logger.flush()
    assert iris_workspace.store.predictions.count("iris-api") == 0


def test_null_in_an_integer_or_boolean_column_is_422_naming_it(workspace, start_server) -> None:
    example = pd.DataFrame({"n": [1, 2], "flag": [True, False], "city": ["a", "b"]})
    _deploy(workspace, "typed", models.Constant(1), example)
    server = start_server(workspace, "typed", trust=True)
    for row, column in (({"n": None, "flag": True, "city": "a"}, "n"),
                        ({"n": 1, "flag": None, "city": "a"}, "flag")):  # fmt: skip
        response = server.client.post("/predict", json={"instances": [row]})
        assert response.status_code == 422, response.text
        assert f"column {column!r} holds null" in _json_error(response)
    fine = {"n": 1, "flag": True, "city": None}  # a string column may hold null
    assert server.client.post("/predict", json={"instances": [fine]}).status_code == 200


def test_allow_missing_passes_nulls_to_the_model(iris_workspace, start_server) -> None:
    example = pd.DataFrame({"x": [1.0, 2.0]})
    _deploy(iris_workspace, "const", models.Constant(7), example)
    takes_nan = start_server(iris_workspace, "const", trust=True, allow_missing=True)
    answer = takes_nan.client.post("/predict", json={"instances": [{"x": None}]})
    assert answer.status_code == 200 and answer.json()["predictions"] == [7]
    takes_nan.service.logger.flush()
    logged = iris_workspace.store.predictions.query(deployment="const")
    assert [p.features for p in logged] == [{"x": None}]
    infinite = takes_nan.client.post("/predict", content='{"instances": [{"x": Infinity}]}',
                                     headers={"content-type": "application/json"})  # fmt: skip
    assert infinite.status_code == 422 and "infinite" in _json_error(infinite)
    refuses_nan = start_server(iris_workspace, allow_missing=True)  # LogisticRegression
    row = {**ROWS[0], "petal_width": None}
    failed = refuses_nan.client.post("/predict", json={"instances": [row]})
    assert failed.status_code == 422, failed.text
    assert "'petal_width'" in _json_error(failed) and "missing values" in _json_error(failed)


def test_nan_and_infinite_outputs_are_sent_and_logged_as_null(workspace, start_server) -> None:
    _deploy(workspace, "nonfinite", models.NonFinite())
    server = start_server(workspace, "nonfinite", trust=True)
    rows = [{"x": i} for i in range(4)]
    answer = server.client.post("/predict", json={"instances": rows})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == [None, None, None, 1.0]
    v2 = server.client.post(
        "/v2/models/nonfinite/infer",
        json={"inputs": [{"name": "x", "shape": [4], "datatype": "INT64", "data": [0, 1, 2, 3]}]},
    )
    assert v2.status_code == 200, v2.text
    assert v2.json()["outputs"][0]["data"] == [None, None, None, 1.0]
    server.service.logger.flush()
    logged = workspace.store.predictions.query(deployment="nonfinite")
    assert [p.output for p in logged][:4] == [None, None, None, 1.0]
    assert server.service.logger.dropped == 0

    _deploy(workspace, "proba", models.NonFiniteClassifier())
    classifier = start_server(workspace, "proba", trust=True)
    answer = classifier.client.post("/predict", json={"instances": rows[:2]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["probabilities"] == [{"0": None, "1": None}, {"0": 0.25, "1": 0.75}]
    v2 = classifier.client.post(
        "/v2/models/proba/infer",
        json={"inputs": [{"name": "x", "shape": [2], "datatype": "INT64", "data": [0, 1]}]},
    )
    assert v2.status_code == 200 and v2.json()["outputs"][1]["data"] == [None, None, 0.25, 0.75]
    classifier.service.logger.flush()
    logged = workspace.store.predictions.query(deployment="proba")
    assert [p.probabilities for p in logged[:2]] == [None, {"0": 0.25, "1": 0.75}]


def _post(path: str, body: bytes | str, content_type: str = "application/json") -> tuple:
    return ("POST", path, body, content_type)


def _v2(*inputs: dict, **document: object) -> tuple:
    return _post("/v2/models/iris-api/infer", json.dumps({"inputs": list(inputs), **document}))


HOSTILE = [
    ("GET", "/no/such/path", None, None),
    ("GET", "/predict", None, None),  # wrong method
    ("DELETE", "/feedback", None, None),
    ("GET", "/v2/models/nope", None, None),
    _post("/predict", b""),
    _post("/predict", b"\xff\xfe\x00"),
    _post("/predict", b'{"instances": [{"sepal_length": ' + b"9" * 5000 + b"}]}"),
    _post("/predict", '{"instances": [{"sepal_length": 1e400, "x": NaN}]}'),
    _post("/predict", json.dumps({"instances": [{**ROWS[0], "sepal_width": 10**30}]})),
    _post("/predict", json.dumps({"instances": [{**ROWS[0], "sepal_width": {"a": [1]}}]})),
    _post("/predict", json.dumps({"instances": [ROWS[0], [1, 2]]})),
    _post("/predict", json.dumps({"instances": "x" * 100})),
    _post("/predict", json.dumps([1, 2, 3])),
    _post("/predict", "NaN"),
    _v2({"name": "a", "data": [[1, 2], [3]]}),
    _v2({"name": "a", "shape": {"x": 1}, "data": [1]}),
    _v2({"name": "a", "shape": [2, "x"], "data": [1, 2]}),
    _v2({"name": "a", "shape": [2, 2, 1], "data": [1, 2, 3, 4]}),
    _v2({"name": "input", "shape": [1, 4], "data": [1, 2, 3, None]}),
    _v2({"name": "a", "data": 5}),
    _v2({"name": {"x": 1}, "data": [1]}),
    _post("/v2/models/iris-api/infer", '{"id": NaN, "inputs": []}'),
    _v2({"name": "a", "data": [1]}, id={"a": 1}),
    _post("/feedback", '[{"prediction_id": "x", "label": NaN}]'),
    _post("/feedback", '[{"prediction_id": "x", "label": [1, Infinity]}]'),
    _post("/feedback", json.dumps([{"prediction_id": ["x"], "label": 1}])),
    _post("/feedback", json.dumps([{"prediction_id": "x" * 100_000, "label": 1}])),
    _post("/feedback", json.dumps([{"prediction_id": "x", "label": 1}] * 10_001)),
    _post("/feedback", "[]", "text/plain"),
]


def test_every_error_is_4xx_with_a_json_body(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace, max_body_bytes=2 << 20)
    for method, path, body, kind in HOSTILE:
        headers = {"content-type": kind} if kind else {}
        response = server.client.request(method, path, content=body, headers=headers)
        assert 400 <= response.status_code < 500, (path, body and body[:100], response.text)
        assert _json_error(response), (path, response.text)
    assert server.client.get("/v2/health/ready").status_code == 200


def test_an_output_json_cannot_hold_is_a_500_with_a_json_body(workspace, start_server) -> None:
    _deploy(workspace, "objects", models.Objects())
    server = start_server(workspace, "objects", trust=True)
    response = server.client.post("/predict", json={"instances": [{"x": 1}]})
    assert response.status_code == 500
    assert _json_error(response) == "internal error" and response.json()["error_id"]


def test_labels_and_outputs_nested_values_keep_finite_numbers() -> None:
    from loopml.serving import protocol

    assert protocol.all_finite([{"a": 1.0, "b": [1, {"c": 2.5}], "d": None, "e": "NaN"}])
    assert not protocol.all_finite([{"a": [1.0, [math.inf]]}])
    assert protocol.finite_row({"a": math.nan, "b": [1.0, -math.inf]}) == {
        "a": None,
        "b": [1.0, None],
    }
    assert protocol.nesting_depth(b'{"a": "[[[[", "b": [[1], {"c": "\\"]]"}]}') == 3
