"""Bytes under a root URI through fsspec, with every write atomic.

Local roots write to a temporary file in the same filesystem and rename it into place, so a
reader (or a process killed mid-write) never sees a partial blob under its final key. Object
stores such as S3 make an upload visible only once it completes, which gives the same promise.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from loopml.core.errors import NotFoundError

CHUNK = 8 * 1024 * 1024
STALE_TMP_S = 24 * 3600  # a temp file this old belongs to a writer that died (kill -9)


class BlobStore:
    """Keys are relative paths (``blobs/ab/cdef...``) under one root; the root never escapes."""

    def __init__(self, root_uri: str, **storage_options: Any) -> None:
        import fsspec

        self.root_uri = root_uri.rstrip("/")
        self.fs, root = fsspec.core.url_to_fs(self.root_uri, **storage_options)
        self.root = root.rstrip("/")
        self.is_local = "file" in _protocols(self.fs)
        self._tmp_dir = Path(self.root, "tmp")
        self._made_dirs: set[Path] = set()
        if self.is_local:
            self._tmp_dir.mkdir(parents=True, exist_ok=True)
            _sweep(self._tmp_dir, STALE_TMP_S)

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def local_path(self, key: str) -> Path | None:
        """The file behind a key when the root is on the local disk."""
        return Path(self.path(key)) if self.is_local else None

    def exists(self, key: str) -> bool:
        if self.is_local:
            return os.path.exists(self.path(key))
        return bool(self.fs.exists(self.path(key)))

    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self.path(key)))
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} not found under {self.root_uri}") from None

    def put_bytes(self, key: str, data: bytes) -> None:
        if self.is_local:
            with self._atomic_local(key) as handle:
                handle.write(data)
        else:
            self.fs.pipe_file(self.path(key), data)

    def put_file(self, key: str, source: Path, *, fsync: bool = True) -> None:
        """Copy a file in. With `fsync=False` the caller promises to call `sync()` before
        anything durable refers to the blob (one sync for a batch instead of one per file)."""
        if self.is_local:
            with self._atomic_local(key, fsync=fsync) as handle, open(source, "rb") as src:
                _copy(src, handle)
        else:
            self.fs.put_file(str(source), self.path(key))

    def sync(self) -> None:
        """Make every blob written with `fsync=False` durable (object stores already are)."""
        if self.is_local:
            os.sync()

    @contextmanager
    def open_write(self, key: str) -> Iterator[IO[bytes]]:
        """A file to stream into; it appears under `key` only when the block exits cleanly."""
        if self.is_local:
            with self._atomic_local(key) as handle:
                yield handle
        else:
            with self.fs.open(self.path(key), "wb") as handle:
                yield handle

    def open_read(self, key: str) -> IO[bytes]:
        try:
            return self.fs.open(self.path(key), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} not found under {self.root_uri}") from None

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as handle:
            return handle.read()

    def delete(self, key: str) -> None:
        self.fs.rm_file(self.path(key))

    @contextmanager
    def _atomic_local(self, key: str, *, fsync: bool = True) -> Iterator[IO[bytes]]:
        final = Path(self.path(key))
        if final.parent not in self._made_dirs:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(final.parent)
        fd, tmp = tempfile.mkstemp(dir=self._tmp_dir, prefix="blob-")
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                if fsync:
                    os.fsync(handle.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _sweep(folder: Path, max_age_s: float) -> None:
    cutoff = time.time() - max_age_s
    for entry in os.scandir(folder):
        try:
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
        except FileNotFoundError:  # another process swept it first
            pass


def _copy(src: IO[bytes], dst: IO[bytes]) -> None:
    """Copy inside the kernel (sendfile) where possible: no trip through Python buffers."""
    size = os.fstat(src.fileno()).st_size
    offset = 0
    try:
        while offset < size:
            sent = os.sendfile(dst.fileno(), src.fileno(), offset, min(size - offset, 1 << 30))
            if sent == 0:
                break
            offset += sent
    except OSError:  # a filesystem without sendfile support
        src.seek(offset)
        dst.seek(offset)
        shutil.copyfileobj(src, dst, CHUNK)


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
