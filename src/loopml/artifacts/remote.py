"""Content-addressed blobs behind a loopml server: the ContentStore methods the rest of loopml
uses, over `GET|HEAD|PUT /api/v1/blobs/{digest}`. Every read is verified against its digest
here, whatever the server did; uploads are verified by the server before they become visible.

The HTTP transport (retries, backoff, auth) is handed in: the remote metadata store's client.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from loopml.artifacts.hashing import ChangedError, digest_bytes, digest_file
from loopml.core.errors import IntegrityError, InvalidArgumentError, NotFoundError

BLOBS = "/api/v1/blobs"
CHUNK = 1 << 20


class Transport(Protocol):
    uri: str

    def request(self, verb: str, path: str, **options: Any) -> Any: ...


class RemoteContentStore:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def uri(self) -> str:
        return f"{self.transport.uri}{BLOBS}"

    def has(self, digest: str) -> bool:
        return not self.missing([digest])

    def missing(self, digests: Sequence[str]) -> list[str]:
        answer = self.transport.request("POST", f"{BLOBS}/missing", json={"digests": list(digests)})
        return list(answer.json()["missing"])

    def put_bytes(self, data: bytes, *, fsync: bool = True) -> str:
        digest = digest_bytes(data)
        if not self.has(digest):
            self.transport.request("PUT", f"{BLOBS}/{digest}", content=data)
        return digest

    def put_file(self, path: Path, *, digest: str | None = None) -> str:
        digest = digest or digest_file(path)
        if not self.has(digest):
            # A fresh stream per attempt: a retry after a dropped connection starts over.
            self.transport.request(
                "PUT", f"{BLOBS}/{digest}", content_factory=lambda: _chunks(path)
            )
        return digest

    def put_hashed_file(
        self, digest: str, path: Path | str, *, expect: tuple[int, int] | None = None
    ) -> None:
        """Upload a file already hashed to `digest` and found `missing` (no second question).
        The server stores it only if its bytes hash to `digest`; a file changed since it was
        hashed (`expect`: its (size, mtime_ns) then) raises ChangedError."""
        path = Path(path)
        _check_unchanged(path, expect)
        try:
            self.transport.request(
                "PUT", f"{BLOBS}/{digest}", content_factory=lambda: _chunks(path)
            )
        except InvalidArgumentError:  # the bytes that arrived do not hash to `digest`
            _check_unchanged(path, expect)
            raise
        _check_unchanged(path, expect)  # changed and back while it was read: refused too

    def sync(self) -> None:
        return None  # the server makes each upload durable before answering

    def put_pack(self, members: Sequence[bytes], digests: Sequence[str] | None = None) -> list[str]:
        """One upload per member (the server keeps its own layout); as for a local store,
        pass only blobs found `missing`, so none is asked about again."""
        out = []
        for data in members:
            digest = digest_bytes(data)
            self.transport.request("PUT", f"{BLOBS}/{digest}", content=data)
            out.append(digest)
        return out

    def get_bytes(self, digest: str, *, what: str | None = None) -> bytes:
        data = self._get(digest, what).content
        if digest_bytes(data) != digest:
            raise _corrupted(digest, what)
        return data

    def get_file(self, digest: str, dest: Path, *, what: str | None = None) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                data = self.get_bytes(digest, what=what)
                out.write(data)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def loose_path(self, digest: str) -> Path | None:
        return None  # nothing is on this machine's disk

    def _get(self, digest: str, what: str | None) -> Any:
        try:
            return self.transport.request("GET", f"{BLOBS}/{digest}")
        except NotFoundError:
            raise NotFoundError(f"{what or 'blob'} {digest[:16]} is not on the server") from None


def _chunks(path: Path) -> Any:
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


def _check_unchanged(path: Path, expect: tuple[int, int] | None) -> None:
    if expect is None:
        return
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise ChangedError(f"{path} disappeared while it was being stored") from None
    if (stat.st_size, stat.st_mtime_ns) != expect:
        raise ChangedError(f"{path} changed while it was being stored")


def _corrupted(digest: str, what: str | None) -> IntegrityError:
    return IntegrityError(
        f"{what or 'blob'} {digest[:16]} arrived corrupted from the server (digest mismatch)"
    )
