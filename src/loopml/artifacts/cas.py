"""Content-addressed storage: blobs keyed by their BLAKE3 digest, verified on every read.

Writing the same bytes twice stores them once. A read that does not hash back to its key
raises IntegrityError naming what was being read, and never hands out the bad bytes.

Many small blobs written together (the files of a dataset folder) go into packs instead of a
file each: a pack is an ordinary blob (the members' bytes one after the other, stored under
its own digest) plus an index `packs/<pack digest>.json` listing each member's digest, offset
and size. The pack's bytes are made durable before its index is written, so an index never
names bytes that a crash could lose. A packed member is read by range and verified against
its own digest like any blob; `has` and every read find loose and packed blobs alike.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from loopml.artifacts.blobs import CHUNK, BlobStore
from loopml.artifacts.hashing import digest_bytes, digest_file, is_digest, new_hasher
from loopml.core.errors import IntegrityError, InvalidArgumentError, NotFoundError

PACKS = "packs"
PACK_MEMBER_MAX = 256 * 1024  # larger blobs are always stored loose
PACK_MAX_BYTES = 8 * 1024 * 1024
PACK_MAX_MEMBERS = 1024

Location = tuple[str, int, int]  # pack digest, offset, size


def blob_key(digest: str) -> str:
    if not is_digest(digest):
        raise InvalidArgumentError(f"{digest!r} is not a BLAKE3 hex digest")
    return f"blobs/{digest[:2]}/{digest[2:]}"


class ContentStore:
    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self._packed: dict[str, Location] = {}
        self._indexes: set[str] = set()  # pack index keys already read
        self._listed = False
        self._lock = threading.Lock()

    @property
    def uri(self) -> str:
        return self.blobs.root_uri

    def has(self, digest: str) -> bool:
        return self.blobs.exists(blob_key(digest)) or self._locate(digest) is not None

    def missing(self, digests: Sequence[str]) -> list[str]:
        """The digests stored neither loose nor in a pack, in the order given."""
        keys = [blob_key(digest) for digest in digests]
        there = self.blobs.exists_many(keys)
        absent = [digest for digest, found in zip(digests, there, strict=True) if not found]
        if not absent:
            return []
        self._locate(absent[0], refresh=True)  # reads pack indexes not read yet
        with self._lock:
            return [digest for digest in absent if digest not in self._packed]

    def put_bytes(self, data: bytes, *, fsync: bool = True) -> str:
        """Store bytes; with `fsync=False` the caller calls `sync()` before anything
        durable refers to the blob."""
        digest = digest_bytes(data)
        if not self.has(digest):
            self.blobs.put_bytes(blob_key(digest), data, fsync=fsync)
        else:
            self.blobs.touch(blob_key(digest))  # within gc's grace period again
        return digest

    def put_file(self, path: Path, *, digest: str | None = None) -> str:
        """Store a file's bytes; pass `digest` when already computed to skip hashing again."""
        digest = digest or digest_file(path)
        if not self.has(digest):
            self.blobs.put_file(blob_key(digest), path)
        else:
            self.blobs.touch(blob_key(digest))  # within gc's grace period again
        return digest

    def put_hashed_file(
        self, digest: str, path: Path | str, *, expect: tuple[int, int] | None = None
    ) -> None:
        """Store a file already hashed to `digest` and found `missing`, without syncing (the
        caller calls `sync()` once for a batch). `expect` is the file's (size, mtime_ns) when
        it was hashed: a file changed since raises ChangedError and nothing is stored."""
        self.blobs.put_file(blob_key(digest), path, fsync=False, expect=expect)

    def sync(self) -> None:
        """Make every blob written with `fsync=False` durable."""
        self.blobs.sync()

    def put_pack(self, members: Sequence[bytes], digests: Sequence[str] | None = None) -> list[str]:
        """Store small blobs as one pack; returns each member's digest. Pass `digests` only
        when they were computed from these very bytes (else they are computed here, so an
        index only names bytes that hash to it). Pass only blobs found `missing`: one stored
        already is stored again (harmless, but it takes room). The pack's bytes are durable
        before its index is written; the index needs `sync()` to be, and until then a
        crash at worst loses the index, and the members get stored again later."""
        if digests is None:
            digests = [digest_bytes(data) for data in members]
        digests = list(digests)
        parts: list[bytes] = []
        rows: list[tuple[str, int, int]] = []
        offset = 0
        seen: set[str] = set()
        for digest, data in zip(digests, members, strict=True):
            if digest in seen:
                continue
            seen.add(digest)
            rows.append((digest, offset, len(data)))
            parts.append(data)
            offset += len(data)
        if not rows:
            return digests
        pack = b"".join(parts)
        pack_digest = digest_bytes(pack)
        if not self.blobs.exists(blob_key(pack_digest)):
            self.blobs.put_bytes(blob_key(pack_digest), pack, fsync=True)
        index = json.dumps({"pack": pack_digest, "members": rows}, separators=(",", ":"))
        index_key = f"{PACKS}/{pack_digest}.json"
        self.blobs.put_bytes(index_key, index.encode(), fsync=False)
        with self._lock:
            self._indexes.add(index_key)
            for digest, member_offset, size in rows:
                self._packed.setdefault(digest, (pack_digest, member_offset, size))
        return digests

    def get_bytes(self, digest: str, *, what: str | None = None) -> bytes:
        data = self._read(digest, what)
        actual = digest_bytes(data)
        if actual != digest:
            raise _corrupted(digest, actual, what)
        return data

    def get_file(self, digest: str, dest: Path, *, what: str | None = None) -> Path:
        """Stream a blob to `dest`, verified before it appears there (atomic rename)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        location = self._known_location(digest)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                if location is not None:
                    out.write(self.get_bytes(digest, what=what))
                else:
                    self._stream_loose(digest, out, what)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def loose_path(self, digest: str) -> Path | None:
        """The local file holding a blob on its own (not in a pack), when there is one."""
        path = self.blobs.local_path(blob_key(digest))
        return path if path is not None and path.exists() else None

    # -- reading ----------------------------------------------------------------------------
    def _stream_loose(self, digest: str, out, what: str | None) -> None:  # type: ignore[no-untyped-def]
        hasher = new_hasher()
        try:
            src = self.blobs.open_read(blob_key(digest))
        except NotFoundError:
            if self._locate(digest, refresh=True) is None:
                raise NotFoundError(f"{_label(digest, what)} is missing from {self.uri}") from None
            out.write(self.get_bytes(digest, what=what))
            return
        with src:
            while chunk := src.read(CHUNK):
                hasher.update(chunk)
                out.write(chunk)
        if hasher.hexdigest() != digest:
            raise _corrupted(digest, hasher.hexdigest(), what)

    def _read(self, digest: str, what: str | None) -> bytes:
        location = self._known_location(digest)
        if location is None:
            try:
                with self.blobs.open_read(blob_key(digest)) as handle:
                    return handle.read()
            except NotFoundError:
                location = self._locate(digest, refresh=True)
                if location is None:
                    raise NotFoundError(
                        f"{_label(digest, what)} is missing from {self.uri}"
                    ) from None
        pack, offset, size = location
        try:
            return self.blobs.read_range(blob_key(pack), offset, size)
        except NotFoundError:
            raise NotFoundError(
                f"{_label(digest, what)} is missing from {self.uri} (its pack {pack[:12]} is gone)"
            ) from None

    def _known_location(self, digest: str) -> Location | None:
        blob_key(digest)  # refuses anything but a digest
        with self._lock:
            return self._packed.get(digest) if self._listed else None

    def _locate(self, digest: str, *, refresh: bool = False) -> Location | None:
        """Where a packed blob is; the pack indexes are read once, and again (only the new
        ones) when asked to `refresh` for a digest not found."""
        with self._lock:
            if not self._listed or (refresh and digest not in self._packed):
                self._load_indexes()
                self._listed = True
            return self._packed.get(digest)

    def _load_indexes(self) -> None:
        for key in self.blobs.list_keys(PACKS):
            if key in self._indexes or not key.endswith(".json"):
                continue
            try:
                index = json.loads(self.blobs.get_bytes(key))
                pack = index["pack"]
                rows = [(str(d), int(o), int(s)) for d, o, s in index["members"]]
            except (NotFoundError, ValueError, KeyError, TypeError):
                continue  # unreadable: its members count as absent, and are stored again
            if not is_digest(pack) or key != f"{PACKS}/{pack}.json":
                continue
            for digest, offset, size in rows:
                if is_digest(digest) and offset >= 0 and size >= 0:
                    self._packed.setdefault(digest, (pack, offset, size))
            self._indexes.add(key)


def _label(digest: str, what: str | None) -> str:
    return f"{what} (blob {digest[:12]})" if what else f"blob {digest}"


def _corrupted(expected: str, actual: str, what: str | None) -> IntegrityError:
    return IntegrityError(
        f"{_label(expected, what)} is corrupted: its bytes hash to {actual[:12]}..., not "
        f"{expected[:12]}...; it was not returned"
    )
