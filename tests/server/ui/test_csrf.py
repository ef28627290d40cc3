"""Cross-site request forgery against `loopml ui` (no authentication on loopback) and the
team server: a page of another origin, open in the same real browser, tries to create a
project, move `champion` and log the user out. Nothing changes."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.server.app import ServerSettings
from loopml.workspace import Workspace
from tests.ports import free_ports
from tests.server.conftest import RunningServer

pytestmark = pytest.mark.security
ALIAS = {"kwargs": {"name": "clf", "alias": "champion", "version": 2, "actor": "attacker"}}
PROJECT = {"kwargs": {"name": "planted-by-attacker"}}


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[tuple[RunningServer, Workspace]]:
    """What `loopml ui` runs: auth off, loopback only; two versions, champion on 1."""
    workspace = Workspace.init(tmp_path / "ws")
    x, y = np.random.default_rng(0).random((30, 2)), np.arange(30) % 2
    for _ in range(2):
        loopml.registry.register("clf", LogisticRegression().fit(x, y), workspace=workspace)
    loopml.registry.set_alias("clf", "champion", 1, workspace=workspace)
    settings = ServerSettings(auth=False, allowed_hosts=("127.0.0.1", "localhost"))
    server = RunningServer(workspace, settings).start()
    yield server, workspace
    server.stop()
    workspace.close()


def _attacks(target: str) -> str:
    """The attacker's page: fetches without preflight (text/plain, no-cors), a JSON fetch
    (preflighted, never granted), and auto-submitted forms, each into its own frame."""
    forms = "".join(
        f'<iframe name="f{i}"></iframe><form target="f{i}" method="post" enctype="{kind}" '
        f'action="{target}{path}"><input name=\'{{"kwargs": {{"x": "\' value=\'"}}}}\'></form>'
        for i, (path, kind) in enumerate([
            ("/api/v1/projects/get_or_create", "text/plain"),
            ("/api/v1/models/set_alias", "application/x-www-form-urlencoded"),
            ("/logout", "application/x-www-form-urlencoded"),
        ])
    )  # fmt: skip
    plain, typed = '{"Content-Type": "text/plain"}', '{"Content-Type": "application/json"}'
    project, alias = json.dumps(PROJECT), json.dumps(ALIAS)
    script = f"""
    const target = {json.dumps(target)};
    const send = (path, body, headers, mode) => fetch(target + path, {{method: "POST",
        body: JSON.stringify(body), headers, mode, credentials: "include"}}).catch(() => null);
    window.done = Promise.all([
      send("/api/v1/projects/get_or_create", {project}, {plain}, "no-cors"),
      send("/api/v1/models/set_alias", {alias}, {plain}, "no-cors"),
      send("/api/v1/models/set_alias", {alias}, {typed}, "cors"),
      send("/api/v1/models/set_alias", {alias}, {{}}, "no-cors"),
    ]).then(() => {{ for (const form of document.forms) form.submit(); }});
    """  # fmt: skip
    return f"<!doctype html><html><body>{forms}<script>{script}</script></body></html>"


@pytest.fixture
def attacker(ui: tuple[RunningServer, Workspace]) -> Iterator[str]:
    """A page on another port of the same host (the same *site*, another origin)."""
    page = _attacks(ui[0].url).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_ports(1)[0]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}/"
    server.shutdown()


def test_another_origins_page_changes_nothing(browser: Any, ui, attacker: str) -> None:
    server, workspace = ui
    context = browser.new_context()
    context.add_cookies([{"name": "loopml_session", "value": "victim", "url": server.url}])
    page = context.new_page()
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: r.url.startswith(server.url) and
            answers.append((r.request.method + " " + r.url, r.status)))  # fmt: skip
    page.goto(attacker)
    page.evaluate("window.done")
    page.wait_for_timeout(1500)  # the forms' navigations inside their frames
    assert workspace.store.models.get_alias("clf", "champion").version == 1
    assert "planted-by-attacker" not in [p.name for p in workspace.store.projects.list()]
    assert [c["value"] for c in context.cookies() if c["name"] == "loopml_session"] == ["victim"]
    reached = [(what, status) for what, status in answers if status < 400]
    assert answers and not reached, answers  # every request that reached it was refused
    context.close()


def test_the_ui_itself_still_works_in_the_browser(browser: Any, ui) -> None:
    server, _ = ui
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/models/clf")
    assert "clf" in page.content()
    answer = page.evaluate(
        """async (url) => (await fetch(url + "/api/v1/projects/list", {method: "POST",
            headers: {"Content-Type": "application/json"}, body: "{}"})).status""",
        server.url,
    )
    assert answer == 200  # the same origin may call its API
    context.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"},
    ],
)
def test_state_changing_requests_from_another_origin_are_403(ui, headers) -> None:
    server, workspace = ui
    for path, body in [("/api/v1/models/set_alias", ALIAS), ("/logout", None), ("/login", None)]:
        answer = httpx.post(server.url + path, json=body, headers=headers)
        assert answer.status_code == 403, (path, answer.text)
        assert "another" in answer.json()["error"]["message"]
        assert "set-cookie" not in answer.headers
    assert workspace.store.models.get_alias("clf", "champion").version == 1


def test_the_api_reads_json_only(ui) -> None:
    server, workspace = ui
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None):
        headers = {"Content-Type": kind} if kind else {}
        answer = httpx.post(server.url + "/api/v1/models/set_alias", content=json.dumps(ALIAS),
                            headers=headers)  # fmt: skip
        assert answer.status_code == 415, (kind, answer.text)
        assert "application/json" in answer.json()["error"]["message"]
    assert workspace.store.models.get_alias("clf", "champion").version == 1
    same_origin = {"Sec-Fetch-Site": "same-origin", "Origin": server.url}
    moved = httpx.post(server.url + "/api/v1/models/set_alias", json=ALIAS, headers=same_origin)
    assert moved.status_code == 200, moved.text  # and a client that is not a browser: below
    assert httpx.post(server.url + "/api/v1/projects/list", json={}).status_code == 200
    assert workspace.store.models.get_alias("clf", "champion").version == 2
