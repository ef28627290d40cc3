"""Issue 14.9 (server half): hostile searches and odd stored values through a real server: the
API answers 4xx with a JSON error, pages a 4xx page (or the page, with the part that could not
be drawn named), never 500."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from loopml.core.entities import RunInput

pytestmark = pytest.mark.security


def _token(offset: object) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


HOSTILE_SEARCHES = [
    {"filter": "(" * 3000 + "metrics.acc > 0.5" + ")" * 3000},
    {"filter": "(" * 100_000},
    {"filter": " or ".join(f"params.C = '{i}'" for i in range(5000))},
    {"filter": "params.C = 'a\x00'"},
    {"page_token": _token(2**63)},
    {"page_token": _token(2**70)},
    {"page_token": _token(-1)},
    {"page_token": _token(True)},
    {"page_token": "x" * 100_000},
    {"order_by": [f"metrics.m{i}" for i in range(200)]},
    {"order_by": ["metrics.`" + "k" * 5000 + "`"]},
]


@pytest.mark.parametrize("kwargs", HOSTILE_SEARCHES, ids=range(len(HOSTILE_SEARCHES)))
def test_hostile_searches_are_4xx_with_a_json_error(served, admin_token: str, kwargs) -> None:
    server, _ = served
    response = httpx.post(f"{server.url}/api/v1/runs/search", json={"kwargs": kwargs},
                          headers={"Authorization": f"Bearer {admin_token}"})  # fmt: skip
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.json()["error"]["type"] == "InvalidArgumentError"


@pytest.mark.parametrize(
    "params",
    [
        {"q": "(" * 3000 + "metrics.acc > 0.5" + ")" * 3000},
        {"q": "params.C = 'a\x00'"},
        {"page": _token(2**70)},
        {"page": _token(-5)},
        {"order": "metrics.`" + "k" * 5000 + "`"},
    ],
    ids=["deep", "nul", "huge-token", "negative-token", "long-order"],
)
def test_hostile_searches_on_the_runs_page_are_a_4xx_page(served, admin_token, params) -> None:
    server, _ = served
    response = httpx.get(f"{server.url}/runs", params=params,
                         headers={"Authorization": f"Bearer {admin_token}"})  # fmt: skip
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")


def test_a_run_with_a_non_numeric_dataset_version_has_a_page(served, admin_token) -> None:
    server, workspace = served
    run = workspace.store.runs.create("p", "odd-input")
    workspace.store.runs.add_input(run.id, RunInput("dataset", "iris", "abc", "f" * 64))
    other = workspace.store.runs.create("p", "gone-input")
    workspace.store.runs.add_input(other.id, RunInput("dataset", "gone", "7", "e" * 64))
    headers = {"Authorization": f"Bearer {admin_token}"}
    for shown, name, where in ((run, "odd-input", "iris@abc"), (other, "gone-input", "gone@7")):
        page = httpx.get(f"{server.url}/runs/{shown.id}", headers=headers)
        assert page.status_code == 200, page.text[:300]  # the run's page, lineage error named
        assert name in page.text and where in page.text
    for path in ("/datasets/iris/abc", "/datasets/gone/7", "/datasets/iris/" + "9" * 40):
        linked = httpx.get(f"{server.url}{path}", headers=headers)
        assert 400 <= linked.status_code < 500, (path, linked.status_code, linked.text[:300])
