"""Content-addressed storage: blobs keyed by their BLAKE3 digest, verified on every read.

Writing the same bytes twice stores them once. A read that does not hash back to its key
raises IntegrityError naming what was being read, and never hands out the bad bytes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from loopml.artifacts.blobs import CHUNK, BlobStore
from loopml.artifacts.hashing import digest_bytes, digest_file, is_digest, new_hasher
from loopml.core.errors import IntegrityError, InvalidArgumentError, NotFoundError


def blob_key(digest: str) -> str:
    if not is_digest(digest):
        raise InvalidArgumentError(f"{digest!r} is not a BLAKE3 hex digest")
    return f"blobs/{digest[:2]}/{digest[2:]}"


class ContentStore:
    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    @property
    def uri(self) -> str:
        return self.blobs.root_uri

    def has(self, digest: str) -> bool:
        return self.blobs.exists(blob_key(digest))

    def put_bytes(self, data: bytes) -> str:
        digest = digest_bytes(data)
        if not self.has(digest):
            self.blobs.put_bytes(blob_key(digest), data)
        return digest

    def put_file(self, path: Path, *, digest: str | None = None) -> str:
        """Store a file's bytes; pass `digest` when already computed to skip hashing again."""
        digest = digest or digest_file(path)
        if not self.has(digest):
            self.blobs.put_file(blob_key(digest), path)
        return digest

    def get_bytes(self, digest: str, *, what: str | None = None) -> bytes:
        data = self._read(digest, what)
        actual = digest_bytes(data)
        if actual != digest:
            raise _corrupted(digest, actual, what)
        return data

    def get_file(self, digest: str, dest: Path, *, what: str | None = None) -> Path:
        """Stream a blob to `dest`, verified before it appears there (atomic rename)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        hasher = new_hasher()
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        try:
            with os.fdopen(fd, "wb") as out, self._open(digest, what) as src:
                while chunk := src.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.hexdigest() != digest:
                raise _corrupted(digest, hasher.hexdigest(), what)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def _open(self, digest: str, what: str | None):  # type: ignore[no-untyped-def]
        try:
            return self.blobs.open_read(blob_key(digest))
        except NotFoundError:
            raise NotFoundError(f"{_label(digest, what)} is missing from {self.uri}") from None

    def _read(self, digest: str, what: str | None) -> bytes:
        with self._open(digest, what) as handle:
            return handle.read()


def _label(digest: str, what: str | None) -> str:
    return f"{what} (blob {digest[:12]})" if what else f"blob {digest}"


def _corrupted(expected: str, actual: str, what: str | None) -> IntegrityError:
    return IntegrityError(
        f"{_label(expected, what)} is corrupted: its bytes hash to {actual[:12]}..., not "
        f"{expected[:12]}...; it was not returned"
    )
