"""Issue 16 item 4: the Open Inference Protocol v2 over REST, against a real server on
loopback. Every /v2 answer (and every request the tests mean to be valid) is checked against
the protocol's objects as JSON Schema (tests/serving/oip_schemas, transcribed from its text)."""

from __future__ import annotations

import importlib.metadata
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pandas as pd
import pytest
import referencing

import loopml
from tests.serving import models
from tests.serving.conftest import FEATURES

SCHEMAS = Path(__file__).parent / "oip_schemas"
ROWS = FEATURES.head(3)


def _validators() -> dict[str, jsonschema.protocols.Validator]:
    documents = {p.stem: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")}
    registry = referencing.Registry().with_resources(
        (doc["$id"], referencing.Resource.from_contents(doc)) for doc in documents.values()
    )
    validators = {}
    for name, doc in documents.items():
        jsonschema.Draft202012Validator.check_schema(doc)
        validators[name] = jsonschema.Draft202012Validator(doc, registry=registry)
    return validators


VALIDATE = _validators()


def check(response: httpx.Response, schema: str, status: int = 200) -> dict[str, Any]:
    """The answer's body, after checking its status, its content type and its schema."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    VALIDATE[schema].validate(body)
    return body


def error(response: httpx.Response, status: int) -> str:
    return check(response, "error", status)["error"]


def infer(client: httpx.Client, path: str, request: dict, **headers: str) -> httpx.Response:
    VALIDATE["inference_request"].validate(request)  # only requests that follow the protocol
    return client.post(path, json=request, headers=headers)


def columns(frame: pd.DataFrame = ROWS, datatype: str = "FP64") -> list[dict[str, Any]]:
    return [{"name": c, "shape": [len(frame)], "datatype": datatype, "data": frame[c].tolist()}
            for c in frame.columns]  # fmt: skip


def matrix(frame: pd.DataFrame = ROWS, nested: bool = False) -> list[dict[str, Any]]:
    values = frame.to_numpy()
    data = values.tolist() if nested else values.ravel().tolist()
    return [{"name": "input", "shape": list(values.shape), "datatype": "FP64", "data": data}]


def _wait(condition: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# -- server and model metadata, readiness -------------------------------------------------------
def test_server_metadata(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace)
    for path in ("/v2", "/v2/"):
        body = check(server.client.get(path), "server_metadata")
        assert body == {"name": "loopml", "version": importlib.metadata.version("loopml"),
                        "extensions": []}  # fmt: skip


def test_model_metadata_and_readiness(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace)
    for name in ("iris-api", "iris"):  # the deployment's name, or its model's
        meta = check(server.client.get(f"/v2/models/{name}"), "model_metadata")
        assert meta["name"] == "iris-api" and meta["versions"] == ["1"]
        assert meta["platform"] == "loopml_sklearn"
        assert meta["inputs"] == [{"name": c, "datatype": "FP64", "shape": [-1]} for c in FEATURES]
        assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]},
                                   {"name": "predict_proba", "datatype": "FP64",
                                    "shape": [-1, -1]}]  # fmt: skip
        assert check(server.client.get(f"/v2/models/{name}/versions/1"), "model_metadata") == meta
        for path in (f"/v2/models/{name}/ready", f"/v2/models/{name}/versions/1/ready"):
            assert check(server.client.get(path), "model_ready") == {"name": name, "ready": True}
    assert "no model 'nope'" in error(server.client.get("/v2/models/nope"), 404)
    assert "no model 'nope'" in error(server.client.get("/v2/models/nope/ready"), 404)
    missing = error(server.client.get("/v2/models/iris-api/versions/7"), 404)
    assert "no version '7'" in missing and "serves versions 1 (primary)" in missing
    error(server.client.get("/v2/models/iris-api/versions/7/ready"), 404)

    server.service.draining = True  # shutting down: not ready, and saying so in the schema
    try:
        body = check(server.client.get("/v2/models/iris-api/ready"), "model_ready", 503)
        assert body == {"name": "iris-api", "ready": False}
        assert "not ready" in error(
            server.client.post("/v2/models/iris-api/infer", json={"inputs": matrix()}), 503
        )
    finally:
        server.service.draining = False


# -- inference ------------------------------------------------------------------------------------
def test_inference_answers_tensors_ids_and_probabilities(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace)
    request = {"id": "r-1", "parameters": {"trace": True, "note": "x", "n": 1.5},
               "inputs": [{**c, "parameters": {"unit": "cm"}} for c in columns()]}  # fmt: skip
    body = check(infer(server.client, "/v2/models/iris-api/infer", request), "inference_response")
    assert body["id"] == "r-1" and body["model_name"] == "iris" and body["model_version"] == "1"
    predict, proba = body["outputs"]
    assert predict == {"name": "predict", "shape": [3], "datatype": "INT64", "data": [0, 0, 0]}
    assert proba["name"] == "predict_proba" and proba["shape"] == [3, 3]
    assert proba["datatype"] == "FP64" and len(proba["data"]) == 9
    assert json.loads(proba["parameters"]["classes"]) == ["0", "1", "2"]
    ids = json.loads(body["parameters"]["prediction_ids"])
    server.service.logger.flush()
    logged = iris_workspace.store.predictions.query(deployment="iris-api")
    assert [p.id for p in logged] == ids and {p.route for p in logged} == {"primary"}
    assert logged[0].probabilities["0"] == pytest.approx(proba["data"][0])

    # one [n, k] tensor, flat or nested in its shape; no id given: none answered
    for nested in (False, True):
        whole = infer(server.client, "/v2/models/iris/infer", {"inputs": matrix(nested=nested)})
        answer = check(whole, "inference_response")
        assert "id" not in answer and answer["outputs"][0]["data"] == [0, 0, 0]
        assert answer["outputs"][1]["data"] == proba["data"]


def test_requested_outputs_only(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace)
    path = "/v2/models/iris-api/infer"
    for names in (["predict_proba"], ["predict"], ["predict_proba", "predict"]):
        request = {"inputs": matrix(), "outputs": [{"name": n} for n in names]}
        body = check(infer(server.client, path, request), "inference_response")
        assert [o["name"] for o in body["outputs"]] == names
        assert len(json.loads(body["parameters"]["prediction_ids"])) == 3
    with_parameters = {"inputs": matrix(), "outputs": [{"name": "predict", "parameters": {"a": 1}}]}
    check(infer(server.client, path, with_parameters), "inference_response")
    unknown = {"inputs": matrix(), "outputs": [{"name": "logits"}]}
    message = error(infer(server.client, path, unknown), 400)
    assert "no output 'logits'" in message and "predict, predict_proba" in message
    server.service.logger.flush()
    assert iris_workspace.store.predictions.count("iris-api") == 12  # the refused one: none


TYPED = pd.DataFrame({"n": [1, 2], "flag": [True, False], "city": ["a", "b"], "x": [0.5, 1.5]})


def test_every_datatype_reaches_the_model(workspace, start_server) -> None:
    loopml.registry.register("typed", models.Constant(1), trust=True, input_example=TYPED,
                             workspace=workspace)  # fmt: skip
    loopml.deployments.create("typed", "typed/1", workspace=workspace)
    server = start_server(workspace, "typed", trust=True)
    meta = check(server.client.get("/v2/models/typed"), "model_metadata")
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
        ("n", "INT64"), ("flag", "BOOL"), ("city", "BYTES"), ("x", "FP64")]  # fmt: skip

    def tensor(name: str, datatype: str, data: list) -> dict:
        return {"name": name, "shape": [len(data)], "datatype": datatype, "data": data}

    rest = [tensor("flag", "BOOL", [True, False]), tensor("city", "BYTES", ["a", "b"])]
    for int_type in ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"):
        for float_type in ("FP16", "FP32", "FP64"):
            request = {"inputs": [tensor("n", int_type, [1, 2]), *rest,
                                  tensor("x", float_type, [0.5, 2])]}  # fmt: skip
            body = check(infer(server.client, "/v2/models/typed/infer", request),
                         "inference_response")  # fmt: skip
            assert body["outputs"] == [{"name": "predict", "shape": [2], "datatype": "INT64",
                                        "data": [1, 1]}], (int_type, float_type)  # fmt: skip
    server.service.logger.flush()
    logged = workspace.store.predictions.query(deployment="typed", limit=1)
    assert dict(logged[0].features) in ({"n": 1, "flag": True, "city": "a", "x": 0.5},
                                        {"n": 2, "flag": False, "city": "b", "x": 2.0})  # fmt: skip

    wrong = [
        (tensor("n", "INT64", [1, 2.5]), "INT64 data must be integers"),
        (tensor("n", "INT64", ["1", "2"]), "INT64 data must be integers"),
        (tensor("n", "UINT8", [1, 300]), "out of UINT8's range [0, 255]"),
        (tensor("n", "INT8", [-129, 0]), "out of INT8's range"),
        (tensor("n", "UINT64", [-1, 0]), "out of UINT64's range"),
        (tensor("flag", "BOOL", [1, 0]), "BOOL data must be true or false"),
        (tensor("city", "BYTES", [1, 2]), "BYTES data must be strings"),
        (tensor("x", "FP32", ["0.5", "1"]), "FP32 data must be numbers"),
        (tensor("x", "FP64", [True, False]), "FP64 data must be numbers"),
        (tensor("x", "FP16", [1e6, 1.0]), "out of FP16's range"),
        (tensor("x", "FP32", [1e300, 1.0]), "out of FP32's range"),
        (tensor("x", "FLOAT", [1.0, 2.0]), "datatype 'FLOAT' is not one of BOOL, UINT8"),
        (tensor("x", "BF16", [1.0, 2.0]), "datatype 'BF16' is not one of"),
    ]
    base = {
        t["name"]: t for t in [tensor("n", "INT64", [1, 2]), *rest, tensor("x", "FP64", [1, 2])]
    }
    for bad, fragment in wrong:
        request = {"inputs": list({**base, bad["name"]: bad}.values())}
        message = error(server.client.post("/v2/models/typed/infer", json=request), 400)
        assert fragment in message and repr(bad["name"]) in message, (bad, message)
    # a valid request the model cannot take: 422, as on /predict
    mistyped = {"inputs": list({**base, "n": tensor("n", "FP64", [1.5, 2.5])}.values())}
    assert "'n'" in error(infer(server.client, "/v2/models/typed/infer", mistyped), 422)
    null = {"inputs": list({**base, "x": tensor("x", "FP64", [None, 1.0])}.values())}
    message = error(server.client.post("/v2/models/typed/infer", json=null), 422)
    assert "'x' holds null or NaN (row 0)" in message


def test_shapes_and_request_fields_are_checked(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace)
    good = columns()
    flat = matrix()[0]
    cases = [
        ({"inputs": [{**flat, "shape": [3, 3]}]}, "12 values do not fit shape [3, 3]"),
        ({"inputs": [{**flat, "shape": [4, 4]}]}, "12 values do not fit shape [4, 4]"),
        (
            {"inputs": [{**flat, "shape": [4, 3], "data": matrix(nested=True)[0]["data"]}]},
            "data of shape [3, 4] does not fit shape [4, 3]",
        ),
        ({"inputs": [{**flat, "data": [[1.0, 2.0], [3.0]]}]}, "not a tensor"),
        ({"inputs": [{**flat, "shape": [3, -4]}]}, "integers of at least 0"),
        ({"inputs": [{**flat, "shape": [3, 4.0]}]}, "integers of at least 0"),
        ({"inputs": [{**flat, "shape": [1, 3, 4]}]}, "one column is [n] or [n, 1]"),
        ({"inputs": [*good, {**flat, "name": "more"}]}, "one [n, k] tensor alone is the whole"),
        (
            {"inputs": [{k: v for k, v in good[0].items() if k != "datatype"}, *good[1:]]},
            "needs datatype",
        ),
        (
            {"inputs": [{k: v for k, v in good[0].items() if k != "shape"}, *good[1:]]},
            "needs shape",
        ),
        ({"inputs": [*good, good[0]]}, "'sepal_length' is given twice"),
        (
            {"inputs": [{**good[0], "shape": [2], "data": [1.0, 2.0]}, *good[1:]]},
            "input tensors differ in length ('sepal_length': 2, 'sepal_width': 3",
        ),
        ({"inputs": [{**flat, "data": 5}]}, "data must be an array"),
        ({"inputs": []}, 'expected "inputs"'),
        ({"inputs": good, "id": 7}, "the request id must be a string"),
        ({"inputs": good, "parameters": {"ids": [1, 2]}}, "'ids' must be a string, a number"),
        ({"inputs": good, "parameters": [1]}, "parameters must be an object"),
        (
            {"inputs": [{**good[0], "parameters": {"a": {"b": 1}}}, *good[1:]]},
            "input 'sepal_length''s parameters: 'a' must be",
        ),
        ({"inputs": good, "outputs": [{"name": 3}]}, "requested output 0 needs a name"),
        ({"inputs": good, "outputs": {"name": "predict"}}, 'expected "outputs"'),
    ]
    for request, fragment in cases:
        message = error(server.client.post("/v2/models/iris-api/infer", json=request), 400)
        assert fragment in message, (request, message)
    narrow = {"inputs": [{**flat, "shape": [4, 3], "data": FEATURES.head(4).iloc[:, :3]
                          .to_numpy().ravel().tolist()}]}  # fmt: skip
    assert "input has 3 columns, the model takes 4" in error(
        infer(server.client, "/v2/models/iris-api/infer", narrow), 422)  # fmt: skip
    empty = {"inputs": [{**c, "shape": [0], "data": []} for c in good]}
    assert "no rows" in error(infer(server.client, "/v2/models/iris-api/infer", empty), 422)
    column_vectors = {"inputs": [{**c, "shape": [3, 1]} for c in good]}
    check(infer(server.client, "/v2/models/iris-api/infer", column_vectors), "inference_response")
    server.service.logger.flush()
    assert iris_workspace.store.predictions.count("iris-api") == 3


def test_v2_errors_are_the_protocols_object(workspace, start_server) -> None:
    loopml.registry.register("broken", models.Broken(), trust=True, workspace=workspace)
    loopml.deployments.create("broken", "broken/1", workspace=workspace)
    server = start_server(workspace, "broken", trust=True)
    request = {"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}
    failed = error(infer(server.client, "/v2/models/broken/infer", request), 500)
    assert failed.startswith("the model failed on this input (error id ")
    assert "secret" not in failed
    plain = server.client.post("/predict", json={"instances": [{"x": 1}]})
    assert plain.status_code == 500 and set(plain.json()) == {"error", "error_id"}  # as it was
    error(server.client.get("/v2/no/such/path"), 404)
    error(server.client.get("/v2/models/broken/infer"), 405)
    refused = server.client.get("/v2/models/broken", headers={"host": "evil.example.com"})
    assert "evil.example.com" in error(refused, 400)
    assert "host" in server.client.get("/metrics", headers={"host": "evil.example.com"}).json()
    bad_json = server.client.post("/v2/models/broken/infer", content=b"{nope",
                                  headers={"content-type": "application/json"})  # fmt: skip
    assert "malformed JSON" in error(bad_json, 400)
    form = server.client.post("/v2/models/broken/infer", content=b"a=1",
                              headers={"content-type": "text/plain"})  # fmt: skip
    assert "content type" in error(form, 415)


def test_token_guards_the_v2_routes_but_not_the_probes(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace, token="s3cret")
    for path in ("/v2", "/v2/models/iris-api", "/v2/models/iris-api/ready"):
        assert "bearer token" in error(server.client.get(path), 401)
        assert server.client.get(path, headers={"authorization": "Bearer s3cret"}).is_success
    assert server.client.get("/v2/health/ready").status_code == 200


# -- versions: canary and shadow ----------------------------------------------------------------
def test_versions_route_to_that_exact_version(workspace, start_server) -> None:
    for value in (0, 1, 2):
        loopml.registry.register("const", models.Constant(value), trust=True, workspace=workspace)
    loopml.registry.register("other", models.Constant(5), trust=True, workspace=workspace)
    loopml.deployments.create("api", "const/1", workspace=workspace)
    loopml.deployments.set_canary("api", "const/2", traffic=0.5, workspace=workspace)
    loopml.deployments.set_shadow("api", "const/3", workspace=workspace)
    server = start_server(workspace, "api", trust=True, watch_interval=0.2)
    predictions = workspace.store.predictions
    request = {"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}]}

    def answer(path: str, **headers: str) -> dict:
        return check(infer(server.client, path, request, **headers), "inference_response")

    meta = check(server.client.get("/v2/models/api"), "model_metadata")
    assert meta["versions"] == ["1", "2", "3"]
    for version in ("1", "2", "3"):
        assert check(server.client.get(f"/v2/models/api/versions/{version}"), "model_metadata")
        ready = server.client.get(f"/v2/models/const/versions/{version}/ready")
        assert check(ready, "model_ready") == {"name": "const", "ready": True}

    # the split answers with 1 and 2; an explicit version always with itself
    split = {answer("/v2/models/api/infer")["model_version"] for _ in range(40)}
    assert split == {"1", "2"}
    for _ in range(15):
        body = answer("/v2/models/api/versions/2/infer", **{"x-request-key": "user-1"})
        assert body["model_version"] == "2" and body["outputs"][0]["data"] == [1]
    assert _wait(lambda: server.service.shadow_busy == 0)
    server.service.logger.flush()
    shadowed = len(predictions.query(deployment="api", version=3))
    skipped = re.search(r"^loopml_shadow_skipped_total (\S+)$", server.client.get("/metrics").text,
                        re.MULTILINE)  # fmt: skip
    assert skipped is not None  # a copy of every request the split or a version answered
    assert shadowed + float(skipped.group(1)) == 55 and shadowed > 0

    # the shadow named: its answer is returned, logged once as the shadow's (no copy of it)
    body = answer("/v2/models/const/versions/3/infer")
    assert body["model_version"] == "3" and body["outputs"][0]["data"] == [2]
    ids = json.loads(body["parameters"]["prediction_ids"])
    time.sleep(0.2)
    server.service.logger.flush()
    assert len(predictions.query(deployment="api", version=3)) == shadowed + 1
    (logged,) = [p for p in predictions.query(deployment="api", version=3) if p.id in ids]
    assert logged.route == "shadow" and logged.output == 2
    canary = predictions.query(deployment="api", version=2)
    assert canary and {p.route for p in canary} == {"canary"}

    missing = error(server.client.get("/v2/models/api/versions/4"), 404)
    assert "serves versions 1 (primary), 2 (canary), 3 (shadow)" in missing
    assert "no version '4'" in error(infer(server.client, "/v2/models/api/versions/4/infer",
                                           request), 404)  # fmt: skip
    error(server.client.get("/v2/models/api/versions/4/ready"), 404)

    # a canary of another model: MODEL:VERSION under the deployment, VERSION under its name
    loopml.deployments.set_canary("api", "other/1", traffic=0.5, workspace=workspace)
    assert _wait(lambda: server.service.table.revision == 4)
    meta = check(server.client.get("/v2/models/api"), "model_metadata")
    assert meta["versions"] == ["1", "other:1", "3"]
    for path in ("/v2/models/api/versions/other:1/infer", "/v2/models/other/versions/1/infer"):
        body = answer(path)
        assert (body["model_name"], body["model_version"]) == ("other", "1")
        assert body["outputs"][0]["data"] == [5]
    assert "no model 'nope'" in error(server.client.get("/v2/models/nope/versions/1"), 404)
