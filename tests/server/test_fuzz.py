"""Bad input at a real server on loopback: schemathesis over the server's own /openapi.json
(every operation, valid and invalid requests), random JSON bodies at the store routes, and the
cases those found. Never a 5xx; every error a JSON body `{"error": {"type", "message"}}`.

Bounded and repeatable: a few examples per operation, derandomized, no example database.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from loopml.core.codec import _known
from loopml.store import rpc

EXAMPLES_PER_OPERATION = 6  # per generation mode (valid and invalid requests)
TIME_BUDGET = 75.0  # seconds for the whole schemathesis pass; past it, one example each
RANDOM_BODIES = 250
BOUNDED = settings(
    derandomize=True, database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck), print_blob=True,
)  # fmt: skip


@pytest.fixture
def api(served, admin_token: str) -> Iterator[tuple[str, httpx.Client]]:
    server, _ = served
    logging.getLogger("loopml.server").setLevel(logging.CRITICAL)  # 500s are asserted, not logged
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield server.url, client
    logging.getLogger("loopml.server").setLevel(logging.NOTSET)


def problem(status: int, text: str) -> str | None:
    """What is wrong with an answer, or None: a 5xx, or an error without a JSON error body."""
    if status >= 500:
        return f"{status}: {text[:300]}"
    if status >= 400:
        try:
            error = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            return f"{status} without a JSON error body: {text[:300]}"
        if not isinstance(error, dict) or not {"type", "message"} <= set(error):
            return f"{status} with a malformed error body: {text[:300]}"
    return None


def assert_client_error(response: httpx.Response) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] and error["message"], error
    return error


# -- schemathesis over /openapi.json ------------------------------------------------------------
def test_every_operation_of_the_openapi_document_answers_without_a_5xx(api, admin_token) -> None:
    url, _ = api
    headers = {"Authorization": f"Bearer {admin_token}"}
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", headers=headers, timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60  # every store method, the blobs, the health checks
    assert all(op.body for op in operations if op.path.startswith("/api/v1/runs/")), (
        "the store routes describe their bodies"
    )
    found: list[str] = []
    sent = {"count": 0}
    start = time.monotonic()
    for operation in operations:
        examples = EXAMPLES_PER_OPERATION if time.monotonic() - start < TIME_BUDGET else 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            check = _operation_check(operation, mode, url, headers, found, sent)
            try:
                settings(BOUNDED, max_examples=examples)(check)()
            except Unsatisfiable:  # no invalid request exists (no parameters, or only a path)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert not found, "\n".join(found[:20])
    assert sent["count"] >= len(operations)
    assert time.monotonic() - start < 2 * TIME_BUDGET


def _operation_check(
    operation: Any, mode: GenerationMode, url: str, headers: dict[str, str],
    found: list[str], sent: dict[str, int],
) -> Any:  # fmt: skip
    @given(case=operation.as_strategy(mode))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=url, headers=headers, timeout=30)
        sent["count"] += 1
        wrong = problem(response.status_code, response.text)
        if wrong:
            found.append(f"{operation.label} ({mode.value}) {case.body!r:.300}: {wrong}")

    return check


# -- random JSON bodies at the store routes ------------------------------------------------------
ROUTES = [
    "runs/create", "runs/get", "runs/search", "runs/log_metrics", "runs/log_params",
    "runs/set_status", "runs/log_artifact", "runs/fail_stale", "datasets/create_version",
    "datasets/get_version", "models/create_version", "models/set_alias", "models/get_version",
    "deployments/create", "predictions/log", "predictions/query", "predictions/add_labels",
    "monitoring/list", "loops/acquire", "loops/save", "audit/events", "audit/record",
]  # fmt: skip
RECORDS = sorted(name for name, cls in _known().items() if hasattr(cls, "__dataclass_fields__"))
ENUMS = sorted(set(_known()) - set(RECORDS))
BAD_TIMES = ["garbage", "0001-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "2024-02-30"]
HOSTILE_TEXT = ["", "../../etc/passwd", "%2e%2e%2f", "a\x00b", "\ud800", "latest", "p",
                "2024-01-01T00:00:00", "nan", "x" * 300, "$type"]  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.sampled_from(HOSTILE_TEXT), st.text(max_size=12),
    st.integers(-5, 5), st.integers(-(2**80), 2**80), st.sampled_from([2**63 - 1, -(2**63), 2**63]),
    st.floats(allow_nan=False, allow_infinity=False),
)  # fmt: skip


def _tagged(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The codec's tags, holding anything: wrong kinds, garbage, other tags, real records."""

    def record(name: str) -> st.SearchStrategy[Any]:
        fields = list(_known()[name].__dataclass_fields__)
        return st.fixed_dictionaries({"$type": st.just(name)},
                                     optional=dict.fromkeys(fields, children))  # fmt: skip

    return st.one_of(
        st.sampled_from(RECORDS).flatmap(record),
        st.fixed_dictionaries({"$type": st.one_of(st.sampled_from(ENUMS), children)}),
        st.fixed_dictionaries(
            {"$enum": st.sampled_from([*ENUMS, *RECORDS, "Nope"]), "value": children}
        ),
        st.fixed_dictionaries({"$time": st.sampled_from(BAD_TIMES) | children}),
        st.fixed_dictionaries({"$float": st.sampled_from(["nan", "-inf", "abc"]) | children}),
        st.fixed_dictionaries({"$bytes": st.sampled_from(["%%%", "YQ=="]) | children}),
        st.fixed_dictionaries({"$tuple": children}),
        st.fixed_dictionaries({"$map": children}),
        st.fixed_dictionaries({"$page": children}),
    )


VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["a", "$x", ""]) | st.text(max_size=4), children, max_size=3
        ),
        _tagged(children),
    ),
    max_leaves=10,
)


@st.composite
def rpc_calls(draw: st.DrawFn) -> tuple[str, Any]:
    route = draw(st.sampled_from(ROUTES))
    store, method = route.split("/")
    names = list(rpc.methods(store)[method].parameters)
    kwargs = {name: draw(VALUES) for name in names if draw(st.booleans())}
    if draw(st.integers(0, 9)) == 0:  # now and then an unknown argument, or no object at all
        kwargs[draw(st.text(max_size=6))] = draw(VALUES)
    body = draw(st.sampled_from(["kwargs"] * 8 + ["value", "body"]))
    return route, {"kwargs": kwargs} if body == "kwargs" else draw(VALUES)


def test_random_bodies_at_the_store_routes_are_refused_as_the_callers_mistake(api) -> None:
    _, client = api
    found: list[str] = []

    @settings(BOUNDED, max_examples=RANDOM_BODIES)
    @given(call=rpc_calls())
    def check(call: tuple[str, Any]) -> None:
        route, body = call
        text = json.dumps(body)  # lone surrogates and all: json.dumps escapes them
        response = client.post(f"/api/v1/{route}", content=text,
                               headers={"Content-Type": "application/json"})  # fmt: skip
        wrong = problem(response.status_code, response.text)
        if wrong:
            found.append(f"{route} {text[:300]}: {wrong}")

    check()
    assert not found, "\n".join(found[:20])


# -- what the fuzzing found, kept as plain cases --------------------------------------------------
METRIC = {"$type": "Metric", "key": "a", "value": 1, "step": 0, "timestamp": 3}  # not a time


@pytest.mark.parametrize(
    ("route", "kwargs"),
    [
        ("runs/get", {"run_id": {"$time": "garbage"}}),
        ("runs/get", {"run_id": {"$time": 5}}),
        ("runs/get", {"run_id": {"$bytes": "%%%"}}),
        ("runs/get", {"run_id": {"$float": "abc"}}),
        ("runs/get", {"run_id": {"$enum": "RunStatus", "value": "zzz"}}),
        ("runs/get", {"run_id": {"$enum": "RunStatus"}}),
        ("runs/get", {"run_id": {"$type": "Metric"}}),
        ("runs/get", {"run_id": {"$type": "Nope"}}),
        ("runs/get", {"run_id": {"$map": 3}}),
        ("runs/get", {"run_id": {"$map": [[1]]}}),
        ("runs/get", {"run_id": {"$tuple": 3}}),
        ("runs/get", {"run_id": [1]}),
        ("runs/get", {"run_id": {"a": 1}}),
        ("runs/get", {"run_id": 123456789012345678901234567890}),
        ("runs/get", {"run_id": "\ud800"}),  # a lone surrogate: valid JSON, not text
        ("runs/search", {"projects": 5}),
        ("runs/search", {"filter": 7}),
        ("runs/search", {"order_by": 5}),
        ("runs/search", {"limit": 2**70}),
        ("runs/create", {"project": "p", "tags": 5}),
        ("runs/create", {"project": "p", "tags": {"a": 5}}),
        ("runs/create", {"project": "p", "code": METRIC}),  # a record of the wrong kind
        ("runs/log_metrics", {"run_id": "x", "metrics": [{**METRIC, "value": "v"}]}),
        ("runs/fail_stale", {"timeout_seconds": "x"}),
        ("runs/fail_stale", {"timeout_seconds": -4.4e16}),  # overflows the clock
        ("runs/fail_stale", {"timeout_seconds": {"$float": "nan"}}),
        ("loops/acquire", {"deployment": "d", "holder": "h", "ttl": {"$float": "nan"}}),
        ("loops/acquire", {"deployment": "d", "holder": "h", "ttl": 3.6e16}),
        ("audit/events", {"limit": "x"}),
        ("monitoring/list", {"target": "t", "limit": "x"}),
        ("predictions/query", {"since": "yesterday"}),
        ("predictions/query", {"since": {"$time": "0001-01-01T00:00:00"}}),  # off the clock
        ("predictions/query", {"limit": 2**70}),
    ],
)
def test_found_bodies_are_4xx_with_a_json_error(api, route: str, kwargs: dict[str, Any]) -> None:
    _, client = api
    text = json.dumps({"kwargs": kwargs})  # escapes the lone surrogate, as JSON allows
    headers = {"Content-Type": "application/json"}
    assert_client_error(client.post(f"/api/v1/{route}", content=text, headers=headers))


def test_bodies_that_are_not_json_objects(api) -> None:
    _, client = api
    headers = {"Content-Type": "application/json"}
    broken = [b'{"kwargs": ', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b"[1]", b'"text"']
    cases = [("/api/v1/runs/search", body) for body in [*broken, b'{"kwargs": 5}']]
    cases += [("/api/v1/blobs/missing", body) for body in [*broken, b'{"digests": 5}']]
    for path, body in cases:
        assert_client_error(client.post(path, content=body, headers=headers))


def test_a_run_id_taken_twice_is_a_conflict_not_a_crash(api) -> None:
    _, client = api
    body = {"kwargs": {"project": "p", "run_id": "0" * 32}}
    assert client.post("/api/v1/runs/create", json=body).status_code == 200
    again = client.post("/api/v1/runs/create", json=body)
    assert again.status_code == 409 and assert_client_error(again)["type"] == "ConflictError"


def test_store_values_a_local_caller_may_pass_still_pass(api) -> None:
    """The type checks hold the wire to the annotations, without refusing what works locally:
    an enum by its value, an int where a float goes, a tuple where a sequence goes."""
    _, client = api
    run = client.post("/api/v1/runs/create", json={"kwargs": {"project": "p"}}).json()["result"]
    ended = client.post("/api/v1/runs/set_status", json={"kwargs": {
        "run_id": run["id"], "status": "FINISHED"}})  # fmt: skip
    assert ended.status_code == 200, ended.text
    assert ended.json()["result"]["status"]["value"] == "FINISHED"
    stale = client.post("/api/v1/runs/fail_stale", json={"kwargs": {"timeout_seconds": 3600}})
    assert stale.status_code == 200, stale.text
    found = client.post("/api/v1/runs/search", json={"kwargs": {
        "projects": {"$tuple": ["p"]}, "limit": 5}})  # fmt: skip
    assert [r["id"] for r in found.json()["result"]["$page"]] == [run["id"]]


@pytest.mark.parametrize(
    "path",
    ["/runs?n=abc", "/datasets/x/diff?old=a&new=1", "/models/x/99999999999999999999999999",
     "/datasets/x/99999999999999999999999999", "/audit?limit=abc"],
)  # fmt: skip
def test_bad_values_in_page_urls_are_4xx(api, path: str) -> None:
    _, client = api
    response = client.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:300])
    if response.headers["content-type"].startswith("application/json"):
        assert_client_error(response)


def test_the_openapi_document_describes_each_store_call(api) -> None:
    _, client = api
    document = client.get("/openapi.json").json()
    schema = document["paths"]["/api/v1/runs/log_metrics"]["post"]["requestBody"]["content"]
    kwargs = schema["application/json"]["schema"]["properties"]["kwargs"]
    assert kwargs["required"] == ["run_id", "metrics"]
    metric = kwargs["properties"]["metrics"]["anyOf"][0]["items"]
    assert metric["properties"]["$type"] == {"const": "Metric"}
    assert set(metric["required"]) == {"$type", "key", "value", "step", "timestamp"}


def test_a_monitor_report_that_cannot_be_read_back_is_refused(api) -> None:
    _, client = api
    report = {"$type": "MonitorReport", "id": "r1", "target": "deployment:d",
              "time": {"$time": "2024-01-01T00:00:00+00:00"}, "reference": "ref",
              "current": "cur", "reference_rows": 1, "current_rows": 1, "dataset_drift": False,
              "drift_share": 0.0, "drift_threshold": 0.5, "columns": {"x": 5}}  # fmt: skip
    saved = client.post("/api/v1/monitoring/save", json={"kwargs": {"report": report}})
    listed = client.post("/api/v1/monitoring/list", json={"kwargs": {"target": "deployment:d"}})
    assert listed.status_code == 200, listed.text  # the target's reports still read
    assert_client_error(saved)
