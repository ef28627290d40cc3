"""Artifact bytes through a real server: round trips, verified uploads, cut connections,
paths that try to escape, and roles."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from loopml.artifacts.hashing import digest_bytes
from loopml.artifacts.remote import RemoteContentStore
from loopml.core.auth import Role
from loopml.core.errors import (
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from loopml.store.remote import RemoteClient


@pytest.fixture
def remote(served, admin_token: str) -> RemoteContentStore:
    server, _ = served
    return RemoteContentStore(RemoteClient(server.url, admin_token))


def test_bytes_and_files_round_trip_and_land_in_the_servers_store(served, remote, tmp_path) -> None:
    _, workspace = served
    digest = remote.put_bytes(b"hello")
    assert remote.has(digest) and workspace.artifacts.get_bytes(digest) == b"hello"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    file_digest = remote.put_file(big)
    assert remote.missing([digest, file_digest, "0" * 64]) == ["0" * 64]
    copy = remote.get_file(file_digest, tmp_path / "out" / "copy.bin")
    assert copy.read_bytes() == big.read_bytes()
    with pytest.raises(NotFoundError):
        remote.get_bytes("1" * 64)


def test_an_upload_that_does_not_hash_to_its_digest_is_not_stored(served, admin_token) -> None:
    server, workspace = served
    claimed = digest_bytes(b"the real bytes")
    response = httpx.put(f"{server.url}/api/v1/blobs/{claimed}", content=b"other bytes",
                         headers={"Authorization": f"Bearer {admin_token}"})  # fmt: skip
    assert response.status_code == 400 and "does not hash" in response.json()["error"]["message"]
    assert not workspace.artifacts.has(claimed)


def test_a_cut_upload_leaves_nothing_and_a_retry_completes_it(served, remote, admin_token) -> None:
    server, workspace = served
    data = os.urandom(1 << 20)
    digest = digest_bytes(data)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        head = (f"PUT /api/v1/blobs/{digest} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {admin_token}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode() + data[: len(data) // 2])
        time.sleep(0.3)  # the server is mid-upload when the connection drops
    time.sleep(0.3)
    assert not workspace.artifacts.has(digest)
    uploads = workspace.cache_dir / "uploads"
    assert not any(uploads.glob(".upload-*")) if uploads.exists() else True
    assert remote.put_bytes(data) == digest and workspace.artifacts.get_bytes(digest) == data


@pytest.mark.parametrize(
    "path",
    ["..%2F..%2Fetc%2Fpasswd", "..%252F..%252Fetc%252Fpasswd", "%2E%2E", "A" * 64,
     "0" * 63, "../" * 3 + "0" * 64],
)  # fmt: skip
def test_paths_that_are_not_digests_are_refused(served, admin_token: str, path: str) -> None:
    server, _ = served
    headers = {"Authorization": f"Bearer {admin_token}"}
    for verb in ("GET", "PUT"):
        response = httpx.request(verb, f"{server.url}/api/v1/blobs/{path}", headers=headers,
                                 content=b"x" if verb == "PUT" else None)  # fmt: skip
        assert response.status_code in (400, 404, 405), (verb, path, response.status_code)
        assert "root:" not in response.text and response.json()["error"]


def test_viewers_read_and_editors_write(served) -> None:
    server, workspace = served
    viewer = workspace.store.auth.create_token("v", role=Role.VIEWER)
    scoped = workspace.store.auth.create_token("s", role=Role.EDITOR, project="a")
    digest = workspace.artifacts.put_bytes(b"shared")
    reader = RemoteContentStore(RemoteClient(server.url, viewer))
    assert reader.get_bytes(digest) == b"shared"
    with pytest.raises(PermissionDeniedError):
        reader.put_bytes(b"new")
    with pytest.raises(PermissionDeniedError):
        RemoteContentStore(RemoteClient(server.url, scoped)).get_bytes(digest)
    with pytest.raises(InvalidArgumentError):
        RemoteContentStore(RemoteClient(server.url, viewer)).missing(["not-a-digest"])


def test_the_download_is_verified_on_the_client(served, remote, tmp_path: Path) -> None:
    _, workspace = served
    digest = remote.put_bytes(b"original")
    blob = workspace.artifacts.loose_path(digest)
    assert blob is not None
    os.chmod(blob, 0o644)
    blob.write_bytes(b"tampered")  # the server's disk was corrupted
    with pytest.raises(IntegrityError):  # the server checks before sending; so would we
        remote.get_bytes(digest)
