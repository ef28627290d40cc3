"""The UI over plain HTTP (no browser needed): every page route is behind the login, roles
apply to pages as to the API, user text is escaped, plotly.js is served and cached, and
`loopml ui` serves the current workspace on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loopml.core.auth import Role
from loopml.server.app import HEALTH
from loopml.server.ui.session import COOKIE, PUBLIC
from loopml.workspace import Workspace
from tests.server.ui.conftest import HOSTILE, Demo


def get(demo: Demo, path: str, token: str | None = None, **kwargs) -> httpx.Response:
    cookies = {COOKIE: token} if token else None
    return httpx.get(f"{demo.server.url}{path}", cookies=cookies, **kwargs)


def test_every_page_route_needs_a_session(demo: Demo) -> None:
    routes = [r for r in demo.server.app.routes if "GET" in (getattr(r, "methods", None) or ())]
    pages = [r.path for r in routes if not r.path.startswith(("/api/", "/openapi.json"))]
    assert len(pages) >= 15
    for path in pages:
        url = re.sub(r"\{[^}]+\}", "x", path)
        answer = get(demo, url)
        if path in PUBLIC:
            assert answer.status_code == 200, path
            continue
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next="), path
        bogus = get(demo, url, "lml_0000_bogus")
        assert bogus.status_code == 303 and "/login" in bogus.headers["location"], path
    for path in HEALTH:
        assert get(demo, path).status_code == 200


def test_pages_carry_the_security_headers(demo: Demo) -> None:
    answer = get(demo, "/runs", demo.token)
    assert answer.status_code == 200
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


def test_plotly_js_is_served_from_the_package_and_cached(demo: Demo) -> None:
    import plotly.offline

    answer = get(demo, "/ui/static/plotly.js", demo.token)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["content-encoding"] == "gzip"  # httpx asked for it, and unpacked it
    assert answer.text == plotly.offline.get_plotlyjs()
    assert "max-age=31536000" in answer.headers["cache-control"]
    again = get(demo, "/ui/static/plotly.js", demo.token,
                headers={"If-None-Match": answer.headers["etag"]})  # fmt: skip
    assert again.status_code == 304 and not again.content
    page = get(demo, "/deployments/fraud-api", demo.token).text
    assert '<script src="/ui/static/plotly.js' in page
    assert "cdn" not in re.findall(r"<script[^>]*>", page)[0].lower()


def test_user_text_is_escaped(demo: Demo) -> None:
    html = get(demo, "/runs?project=curves", demo.token).text
    assert HOSTILE not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_viewer_of_one_project_sees_only_it(demo: Demo) -> None:
    auth = demo.workspace.store.auth
    token = auth.create_token("carol", role=Role.VIEWER, project="curves")
    runs = get(demo, "/runs", token)
    assert runs.status_code == 200
    assert "sgd-0.1" in runs.text and ">p000<" not in runs.text and ">register<" not in runs.text
    assert get(demo, "/runs?project=fraud", token).status_code == 403
    denied = get(demo, "/datasets", token)
    assert denied.status_code == 403 and "may not" in denied.text
    assert get(demo, "/deployments/fraud-api", token).status_code == 403


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_login_never_redirects_off_the_site(demo: Demo, target: str) -> None:
    answer = httpx.post(f"{demo.server.url}/login", data={"token": demo.token, "next": target})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/runs"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie


def test_loopml_ui_serves_the_workspace_on_loopback(workspace: Workspace, tmp_path: Path) -> None:
    run = workspace.store.runs.create("local", name="from-the-cli")
    process = subprocess.Popen([sys.executable, "-m", "loopml", "ui", "--port", "0"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, (line, process.stderr.read() if process.poll() is not None else "")
        base = found.group(0).rstrip("/")
        answer = httpx.get(f"{base}/runs", timeout=30)  # no token: auth is off on loopback
        assert answer.status_code == 200 and "from-the-cli" in answer.text
        assert httpx.get(f"{base}/runs/{run.id}").status_code == 200
        assert httpx.get(f"{base}/login").headers["location"] == "/runs"  # no login needed
    finally:
        process.terminate()
        process.wait(timeout=30)
