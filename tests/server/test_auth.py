"""Tokens and roles on every route of a real server: 401 without a valid token, 403 without
the role, scoped grants per project, security headers, host allow-list, idempotent retries."""

from __future__ import annotations

import httpx
import pytest

from loopml.core.auth import Role
from loopml.core.errors import PermissionDeniedError
from loopml.server.app import HEALTH
from loopml.store.remote import RemoteMetadataStore
from tests.server.conftest import call


def test_every_route_but_health_needs_a_token(served, admin_token: str) -> None:
    server, _ = served
    routes = [r for r in server.app.routes if getattr(r, "methods", None)]
    api = [r for r in routes if r.path.startswith("/api/") and r.path not in HEALTH]
    assert len(api) > 60  # every store method is a route
    for route in api:
        for token in (None, "lml_0000_bogus", "not-even-a-token"):
            response = call(server, route.path, token)
            assert response.status_code == 401, (route.path, token)
            assert response.json()["error"]["type"] == "AuthenticationError"
    for path in HEALTH:
        assert httpx.get(f"{server.url}{path}").status_code == 200


def test_a_revoked_token_is_refused(served) -> None:
    server, workspace = served
    token = workspace.store.auth.create_token("ann", role=Role.VIEWER)
    assert call(server, "/api/v1/projects/list", token).status_code == 200
    workspace.store.auth.revoke(token.split("_")[1])
    response = call(server, "/api/v1/projects/list", token)
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_roles_are_scoped_to_projects(served, admin_token: str) -> None:
    server, workspace = served
    admin = RemoteMetadataStore(server.url, admin_token)
    run_b = admin.runs.create("b", "theirs")
    auth = workspace.store.auth
    editor_a = RemoteMetadataStore(server.url, auth.create_token("ann", role=Role.EDITOR,
                                                                 project="a"))  # fmt: skip
    viewer_a = RemoteMetadataStore(server.url, auth.create_token("bob", role=Role.VIEWER,
                                                                 project="a"))  # fmt: skip
    mine = editor_a.runs.create("a", "mine")
    editor_a.runs.log_params(mine.id, {"C": "1"})
    assert viewer_a.runs.get(mine.id).params == {"C": "1"}
    assert [r.id for r in viewer_a.runs.search(["a"])] == [mine.id]
    refused = [
        lambda: viewer_a.runs.create("a", "nope"),  # viewer cannot write
        lambda: editor_a.runs.create("b", "nope"),  # no grant on b
        lambda: editor_a.runs.get(run_b.id),
        lambda: editor_a.runs.log_params(run_b.id, {"C": "2"}),
        lambda: editor_a.runs.search(None),  # every project
        lambda: editor_a.datasets.list_latest(),  # records of no project need "*"
        lambda: editor_a.deployments.list(),
    ]
    for attempt in refused:
        with pytest.raises(PermissionDeniedError):
            attempt()
    assert admin.runs.get(run_b.id).params == {}  # nothing written by the refused calls


def test_answers_carry_security_headers_and_unknown_hosts_are_refused(served, admin_token) -> None:
    server, _ = served
    response = call(server, "/api/v1/projects/list", admin_token)
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    evil = httpx.post(f"{server.url}/api/v1/projects/list", headers={
        "Host": "evil.example", "Authorization": f"Bearer {admin_token}"})  # fmt: skip
    assert evil.status_code == 400 and "not allowed" in evil.json()["error"]["message"]


def test_bad_requests_are_4xx_with_a_json_body(served, admin_token: str) -> None:
    server, _ = served
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    cases = [
        ("/api/v1/runs/get", b"{not json"),
        ("/api/v1/runs/get", b"[1, 2]"),
        ("/api/v1/runs/get", b'{"kwargs": {"nope": 1}}'),
        ("/api/v1/runs/get", b'{"kwargs": {"run_id": {"$type": "Bogus"}}}'),
        ("/api/v1/runs/get", b'{"kwargs": {"run_id": "0123"}}'),
        ("/api/v1/runs/no_such_method", b"{}"),
    ]
    for path, body in cases:
        response = httpx.post(f"{server.url}{path}", content=body, headers=headers)
        assert 400 <= response.status_code < 500, (path, body, response.text)
        assert response.json()["error"]["message"]


def test_a_retried_write_is_applied_once(served, admin_token: str) -> None:
    server, workspace = served
    headers = {"Authorization": f"Bearer {admin_token}", "Idempotency-Key": "k1"}
    body = {"kwargs": {"project": "p", "name": "once"}}
    first = httpx.post(f"{server.url}/api/v1/runs/create", json=body, headers=headers)
    again = httpx.post(f"{server.url}/api/v1/runs/create", json=body, headers=headers)
    assert first.json() == again.json()
    assert len(workspace.store.runs.search(["p"])) == 1


def test_the_audit_trail_names_the_tokens_user_not_the_clients_claim(served) -> None:
    server, workspace = served
    ann = RemoteMetadataStore(server.url, workspace.store.auth.create_token(
        "ann", role=Role.EDITOR, project="a"))  # fmt: skip
    run = ann.runs.create("a", "mine")
    ann.runs.delete(run.id, actor="mallory")
    ann.runs.restore(run.id, actor="admin")
    actors = {e.action: e.actor for e in workspace.store.audit.events(target=None, limit=10)}
    assert [a for a in actors.values() if a in ("mallory", "admin")] == []
    assert set(actors.values()) == {"ann"}, actors


def test_an_administrator_may_record_the_user_it_acts_for(served, admin_token: str) -> None:
    server, workspace = served
    admin = RemoteMetadataStore(server.url, admin_token)
    run = admin.runs.create("a", "theirs")
    admin.runs.delete(run.id, actor="controller")
    assert [e.actor for e in workspace.store.audit.events(target=None, limit=1)] == ["controller"]
