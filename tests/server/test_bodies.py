"""Bodies over a route's limit are refused with 413 as soon as that is known: a declared
Content-Length is not waited for, and a streamed body is cut at the limit."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from loopml.server import app as server_app
from loopml.server.ui import session

pytestmark = pytest.mark.security


def _declare(url: str, path: str, size: int, content_type: str, extra: str = "") -> str:
    """Send headers declaring `size` bytes and one byte of body; the answer's status line."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {size}\r\n{extra}\r\n{{")  # fmt: skip
        sock.sendall(head.encode())
        answer = sock.recv(4096).decode("latin-1")  # the timeout fails a server that waits
    return answer.split("\r\n", 1)[0]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/login", "application/x-www-form-urlencoded"), ("/api/v1/runs/search", "application/json")],
)
def test_a_declared_huge_body_is_refused_at_once(served, admin_token, path, content_type) -> None:
    server, _ = served
    status = _declare(server.url, path, 500_000_000, content_type)
    assert " 413 " in status or " 401 " in status, status  # the API asks for a token first


def test_a_declared_huge_body_with_a_token_is_413(served, admin_token: str) -> None:
    server, _ = served
    token = f"Authorization: Bearer {admin_token}\r\n"
    status = _declare(server.url, "/api/v1/runs/search", server_app.MAX_BODY + 1,
                      "application/json", token)  # fmt: skip
    assert " 413 " in status, status


def test_a_streamed_body_is_cut_at_the_limit(served, admin_token: str) -> None:
    server, _ = served

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to judge by
        for _ in range(100):  # 100 MiB; the limit is 64 MiB
            yield b" " * (1 << 20)

    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    answer = httpx.post(f"{server.url}/api/v1/runs/search", content=chunks(),
                        headers=headers, timeout=60)  # fmt: skip
    assert answer.status_code == 413


def test_login_reads_a_small_form_only(served) -> None:
    server, _ = served
    answer = httpx.post(f"{server.url}/login", content=b"token=" + b"x" * (session.MAX_FORM + 1),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "PayloadTooLargeError"
