"""Browsers log in with a token: the page sets an HttpOnly, SameSite=Strict cookie that the
server accepts like a Bearer header; a wrong token is refused; the API still answers 401."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from loopml.core.auth import Role
from tests.server.ui.conftest import Demo, Visitor


def test_pages_send_a_browser_without_a_session_to_login(anonymous: Visitor) -> None:
    anonymous.open("/deployments/fraud-api", "login-redirect")
    url = urlparse(anonymous.page.url)
    assert url.path == "/login" and "next=%2Fdeployments%2Ffraud-api" in url.query
    assert anonymous.page.locator("input[name=token]").count() == 1
    anonymous.assert_clean()


def test_logging_in_with_a_token(anonymous: Visitor, demo: Demo) -> None:
    page = anonymous.page
    anonymous.open("/models/fraud-clf", "login")
    page.fill("input[name=token]", demo.token)
    anonymous.follow("button[type=submit]", "logged-in")
    assert urlparse(page.url).path == "/models/fraud-clf"  # back where it was going
    assert "ui-admin" in page.locator("header .who").inner_text()
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "loopml_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it
    anonymous.follow("header .who button")  # log out
    assert urlparse(page.url).path == "/login"
    assert not [c for c in page.context.cookies() if c["name"] == "loopml_session"]
    anonymous.open("/runs")
    assert urlparse(page.url).path == "/login"
    anonymous.assert_clean()


def test_a_wrong_token_is_refused(anonymous: Visitor) -> None:
    page = anonymous.page
    anonymous.open("/login")
    page.fill("input[name=token]", "lml_0000_not-a-real-token")
    with page.expect_response(lambda r: r.url.endswith("/login")) as answered:
        page.click("button[type=submit]")
    assert answered.value.status == 401
    anonymous.screenshot("login-refused")
    assert "not accepted" in page.locator("[data-testid=login-error]").inner_text()
    assert not [c for c in page.context.cookies() if c["name"] == "loopml_session"]
    anonymous.open("/runs")
    assert urlparse(page.url).path == "/login"


def test_a_revoked_token_ends_the_session(browser: Any, demo: Demo) -> None:
    auth = demo.workspace.store.auth
    token = auth.create_token("ann", role=Role.VIEWER)
    context = browser.new_context()
    context.add_cookies([{"name": "loopml_session", "value": token, "url": demo.server.url}])
    page = context.new_page()
    page.goto(demo.server.url + "/audit")
    assert urlparse(page.url).path == "/audit"
    auth.revoke(token.split("_")[1])
    page.goto(demo.server.url + "/audit")
    assert urlparse(page.url).path == "/login"
    assert not [c for c in context.cookies() if c["name"] == "loopml_session"]
    context.close()


def test_the_api_still_answers_401_json(demo: Demo) -> None:
    answer = httpx.post(f"{demo.server.url}/api/v1/projects/list", json={})
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "AuthenticationError"


def test_the_cookie_opens_downloads_but_no_api_call(demo: Demo) -> None:
    """Another port of the same host is the same site to a browser: a page there could send
    the cookie with a text/plain POST, so API calls need the Bearer header."""
    cookies = {"loopml_session": demo.token}
    for body in ({"json": {}}, {"content": "{}", "headers": {"Content-Type": "text/plain"}}):
        answer = httpx.post(f"{demo.server.url}/api/v1/runs/create", cookies=cookies,
                            **body)  # fmt: skip
        assert answer.status_code == 401, body
    bearer = {"Authorization": f"Bearer {demo.token}"}
    assert httpx.post(f"{demo.server.url}/api/v1/projects/list", json={},
                      headers=bearer).status_code == 200  # fmt: skip
    store = demo.workspace.store.runs
    pipeline = store.search(filter="tags.loopml.kind = 'pipeline'", limit=1)[0]
    digest = store.artifacts(pipeline.id)[0].digest
    blob = httpx.get(f"{demo.server.url}/api/v1/blobs/{digest}", cookies=cookies)
    assert blob.status_code == 200 and blob.content


@pytest.mark.parametrize(
    "headers", [{"Origin": "http://127.0.0.1:1"}, {"Sec-Fetch-Site": "same-site", "Origin": "null"}]
)
def test_a_login_form_posted_from_another_origin_is_refused(demo: Demo, headers) -> None:
    answer = httpx.post(f"{demo.server.url}/login", data={"token": demo.token}, headers=headers)
    assert answer.status_code == 403 and "set-cookie" not in answer.headers
