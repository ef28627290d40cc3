"""Issue 14.10b: Idempotency-Key is bound to the call it came with (another method or body with
the same key is 409) and kept in the database: a retry is applied once after a server restart
and across two servers (workers) over one database; keys are per user and expire after a day.
Real servers over SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from loopml.core.auth import Role
from loopml.core.config import resolve_config
from loopml.core.ids import new_id, now_ms
from loopml.server.app import ServerSettings
from loopml.store.sql import schema as t
from loopml.workspace import Workspace
from tests.server.conftest import RunningServer

pytestmark = pytest.mark.security


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        Workspace.init(tmp_path / "ws").close()
        return {}
    return {"LOOPML_STORE_URI": request.getfixturevalue("postgres_uri"),
            "LOOPML_ARTIFACT_URI": str(tmp_path / "blobs")}  # fmt: skip


def _open(tmp_path: Path, env: dict[str, str]) -> Workspace:
    (tmp_path / "ws").mkdir(exist_ok=True)
    return Workspace.from_config(resolve_config(tmp_path / "ws", env))


@pytest.fixture
def workspace(tmp_path: Path, env: dict[str, str]) -> Iterator[Workspace]:
    ws = _open(tmp_path, env)
    yield ws
    ws.close()


@pytest.fixture
def server(workspace: Workspace) -> Iterator[RunningServer]:
    running = RunningServer(workspace, ServerSettings()).start()
    yield running
    running.stop()


def _post(url: str, token: str, path: str, key: str | None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(f"{url}/api/v1/{path}", json={"kwargs": kwargs}, headers=headers,
                      timeout=60)  # fmt: skip


def _runs(workspace: Workspace, project: str) -> list[str]:
    return [r.name for r in workspace.store.runs.search([project])]


def test_a_key_is_bound_to_its_call(server: RunningServer, workspace: Workspace) -> None:
    token = workspace.store.auth.create_token("ann", role=Role.EDITOR)
    first = _post(server.url, token, "runs/create", "k1", project="p", name="once")
    again = _post(server.url, token, "runs/create", "k1", project="p", name="once")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    other_body = _post(server.url, token, "runs/create", "k1", project="p", name="twice")
    assert other_body.status_code == 409, other_body.text
    assert other_body.json()["error"]["type"] == "ConflictError"
    assert "Idempotency-Key" in other_body.json()["error"]["message"]
    run_id = first.json()["result"]["id"]
    other_method = _post(server.url, token, "runs/set_tags", "k1", run_id=run_id,
                         tags={"a": "1"})  # fmt: skip
    assert other_method.status_code == 409
    assert _runs(workspace, "p") == ["once"]
    assert workspace.store.runs.get(run_id).tags == {}


def test_keys_belong_to_their_user(server: RunningServer, workspace: Workspace) -> None:
    ann = workspace.store.auth.create_token("ann", role=Role.EDITOR)
    bob = workspace.store.auth.create_token("bob", role=Role.EDITOR)
    _post(server.url, ann, "runs/create", "same", project="p", name="ann's")
    bobs = _post(server.url, bob, "runs/create", "same", project="p", name="bob's")
    assert bobs.status_code == 200  # bob's key is his own, not a reuse of ann's
    assert sorted(_runs(workspace, "p")) == ["ann's", "bob's"]


def test_a_retry_after_a_restart_is_applied_once(
    tmp_path: Path, env: dict[str, str], workspace: Workspace
) -> None:
    token = workspace.store.auth.create_token("ann", role=Role.EDITOR)
    first_server = RunningServer(workspace, ServerSettings()).start()
    try:
        first = _post(first_server.url, token, "runs/create", "k-restart", project="p", name="r")
    finally:
        first_server.stop()
    reopened = _open(tmp_path, env)  # a new process would open the store afresh
    second_server = RunningServer(reopened, ServerSettings(), port=first_server.port).start()
    try:
        again = _post(second_server.url, token, "runs/create", "k-restart", project="p",
                      name="r")  # fmt: skip
    finally:
        second_server.stop()
        reopened.close()
    assert again.status_code == 200 and again.json() == first.json()
    assert _runs(workspace, "p") == ["r"]


def test_two_workers_over_one_database_apply_a_key_once(
    tmp_path: Path, env: dict[str, str], workspace: Workspace
) -> None:
    token = workspace.store.auth.create_token("ann", role=Role.EDITOR)
    other = _open(tmp_path, env)
    servers = [RunningServer(ws, ServerSettings()).start() for ws in (workspace, other)]
    try:
        answers: list[httpx.Response] = []
        threads = [
            threading.Thread(target=lambda url=s.url: answers.append(
                _post(url, token, "runs/create", "k-race", project="p", name="raced")))
            for s in servers for _ in range(3)
        ]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert [a.status_code for a in answers] == [200] * 6
        assert len({a.json()["result"]["id"] for a in answers}) == 1
        assert _runs(workspace, "p") == ["raced"]
    finally:
        for running in servers:
            running.stop()
        other.close()


def test_a_failed_call_is_not_kept(server: RunningServer, workspace: Workspace) -> None:
    token = workspace.store.auth.create_token("ann", role=Role.EDITOR)
    run_id = new_id()
    early = _post(server.url, token, "runs/set_tags", "k-fail", run_id=run_id, tags={"a": "1"})
    assert early.status_code == 404  # the run does not exist yet
    workspace.store.runs.create("p", "late", run_id=run_id)
    retried = _post(server.url, token, "runs/set_tags", "k-fail", run_id=run_id, tags={"a": "1"})
    assert retried.status_code == 200
    assert workspace.store.runs.get(run_id).tags == {"a": "1"}


def test_keys_expire_after_a_day(server: RunningServer, workspace: Workspace) -> None:
    token = workspace.store.auth.create_token("ann", role=Role.EDITOR)
    _post(server.url, token, "runs/create", "k-old", project="p", name="yesterday")
    day_ago = now_ms() - 24 * 3600 * 1000 - 1000
    with workspace.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(t.idempotency_keys.update().values(created_ms=day_ago))
    again = _post(server.url, token, "runs/create", "k-old", project="p", name="today")
    assert again.status_code == 200  # an expired key is a new key
    assert sorted(_runs(workspace, "p")) == ["today", "yesterday"]
    assert workspace.store.idempotency.expire(now_ms() + 1) == 1  # type: ignore[attr-defined]
    with workspace.store.engine.connect() as conn:  # type: ignore[attr-defined]
        count = sa.select(sa.func.count()).select_from(t.idempotency_keys)
        assert conn.execute(count).scalar() == 0


def test_odd_keys_are_refused_or_kept_apart(server: RunningServer, workspace: Workspace) -> None:
    token = workspace.store.auth.create_token("ann", role=Role.EDITOR)
    long = _post(server.url, token, "runs/create", "k" * 300, project="p", name="x")
    assert long.status_code == 400 and "Idempotency-Key" in long.json()["error"]["message"]
    reads = [_post(server.url, token, "runs/search", "k-read", projects=[name])
             for name in ("p", "q")]  # fmt: skip
    assert [r.status_code for r in reads] == [404, 404]  # reads run as they come
