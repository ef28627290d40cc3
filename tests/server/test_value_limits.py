"""Issue 14.8: values over the documented limits, and NUL characters, sent to a real server over
SQLite and over PostgreSQL: 400 with a JSON error naming the limit, never 500/503, and nothing
stored. (The limits themselves are in the store conformance suite, tests/store/contract.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import loopml
from loopml.core.auth import Role
from loopml.core.config import resolve_config
from loopml.server.app import ServerSettings
from loopml.workspace import Workspace
from tests.server.conftest import RunningServer

pytestmark = pytest.mark.security
TIME = {"$time": "2026-01-01T00:00:00+00:00"}


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    env: dict[str, str] = {}
    if request.param == "postgres":
        uri = request.getfixturevalue("postgres_uri")
        env = {"LOOPML_STORE_URI": uri, "LOOPML_ARTIFACT_URI": (tmp_path / "blobs").as_uri()}
    Workspace.init(tmp_path).close()
    workspace = Workspace.from_config(resolve_config(tmp_path, env))
    yield workspace
    workspace.close()


@pytest.fixture
def server(backend: Workspace) -> Iterator[RunningServer]:
    running = RunningServer(backend, ServerSettings()).start()
    yield running
    running.stop()


def _post(server: RunningServer, token: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/api/v1/{path}", json={"kwargs": kwargs},
                      headers={"Authorization": f"Bearer {token}"}, timeout=60)  # fmt: skip


def test_oversized_and_nul_values_are_400_naming_the_limit(
    server: RunningServer, backend: Workspace
) -> None:
    token = backend.store.auth.create_token("ann", role=Role.EDITOR)
    run_id = backend.store.runs.create("p", "r").id
    metric = {"$type": "Metric", "key": "k" * 10_000, "value": 1.0, "step": 0, "timestamp": TIME}
    cases = [
        ("runs/log_params", {"run_id": run_id, "params": {"k" * 10_000: "1"}}, "250"),
        ("runs/log_params", {"run_id": run_id, "params": {"C": "x" * (1 << 20)}}, "6000"),
        ("runs/set_tags", {"run_id": run_id, "tags": {"t": "v" * 8001}}, "8000"),
        ("runs/set_tags", {"run_id": run_id, "tags": {"k" * 251: "v"}}, "250"),
        ("runs/log_metrics", {"run_id": run_id, "metrics": [metric]}, "250"),
        ("runs/create", {"project": "p", "name": "n" * 10_000}, "250"),
        ("runs/log_params", {"run_id": run_id, "params": {"a\x00": "1"}}, "NUL"),
        ("runs/log_params", {"run_id": run_id, "params": {"C": "\x00"}}, "NUL"),
        ("runs/set_tags", {"run_id": run_id, "tags": {"t": "a\x00b"}}, "NUL"),
        ("runs/log_metrics", {"run_id": run_id, "metrics": [{**metric, "key": "m\x00"}]}, "NUL"),
        ("runs/create", {"project": "p", "name": "r\x00"}, "NUL"),
        ("runs/set_status", {"run_id": run_id, "status": "FAILED", "error": "\x00"}, "NUL"),
    ]
    for path, kwargs, named in cases:
        response = _post(server, token, path, **kwargs)
        assert response.status_code == 400, (path, named, response.status_code, response.text[:300])
        error = response.json()["error"]
        assert error["type"] == "InvalidArgumentError" and named in error["message"], error
    run = backend.store.runs.get(run_id)
    assert (run.params, run.metrics, run.tags, run.status) == ({}, {}, {}, "RUNNING")
    assert [r.id for r in backend.store.runs.search(["p"])] == [run_id]


def test_nul_anywhere_else_is_a_client_error(server: RunningServer, backend: Workspace) -> None:
    """Values the store does not check one by one still come back as 4xx with a JSON error
    (PostgreSQL's refusal of a NUL is the caller's mistake, not the server's)."""
    token = backend.store.auth.create_token("ann", role=Role.ADMIN)
    cases = [
        ("runs/get", {"run_id": "a\x00"}),
        ("runs/metric_history", {"run_id": "a\x00", "key": "k"}),
        ("runs/search", {"projects": ["p\x00"]}),
        ("runs/search", {"filter": "params.C = '\x00'"}),
        ("datasets/get_version", {"name": "d\x00"}),
        ("models/get_model", {"name": "m\x00"}),
        ("deployments/get", {"name": "d\x00"}),
    ]
    for path, kwargs in cases:
        response = _post(server, token, path, **kwargs)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        assert response.json()["error"]["message"]


def test_a_run_whose_exception_holds_a_nul_still_ends(backend: Workspace) -> None:
    with pytest.raises(ValueError), loopml.start_run(project="p", workspace=backend) as run:
        raise ValueError("bad byte: \x00 here")
    ended = backend.store.runs.get(run.id)
    assert ended.status == "FAILED" and "\\x00 here" in (ended.error or "")
