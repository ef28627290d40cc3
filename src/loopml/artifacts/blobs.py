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
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from loopml.artifacts.hashing import ChangedError
from loopml.core.dirs import make_dirs
from loopml.core.errors import NotFoundError

CHUNK = 8 * 1024 * 1024
COPY_STEP = 32 * 1024 * 1024
LARGE_COPY = 64 * 1024 * 1024
_HAS_COPY_FILE_RANGE = hasattr(os, "copy_file_range")
STALE_TMP_S = 24 * 3600  # a temp file this old belongs to a writer that died (kill -9)


class BlobStore:
    """Keys are relative paths (``blobs/ab/cdef...``) under one root; the root never escapes."""

    def __init__(self, root_uri: str, **storage_options: Any) -> None:
        self.root_uri = root_uri.rstrip("/")
        self._storage_options = storage_options
        self._fs: Any = None
        local = _plain_local_root(self.root_uri) if not storage_options else None
        if local is not None:  # a local folder needs no fsspec (whose import alone is ~50 ms)
            self.root, self.is_local = local, True
        else:
            root = self._open_fs()
            self.root = root.rstrip("/")
            self.is_local = "file" in _protocols(self._fs)
        self._tmp_dir = Path(self.root, "tmp")
        self._made_dirs: set[Path] = set()
        if self.is_local:  # the store's folders: 0700, whatever the umask
            make_dirs(self._tmp_dir)
            _sweep(self._tmp_dir, STALE_TMP_S)

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (opened on first use for a local root)."""
        if self._fs is None:
            self._open_fs()
        return self._fs

    def _open_fs(self) -> str:
        import fsspec

        self._fs, root = fsspec.core.url_to_fs(self.root_uri, **self._storage_options)
        return str(root)

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def local_path(self, key: str) -> Path | None:
        """The file behind a key when the root is on the local disk."""
        return Path(self.path(key)) if self.is_local else None

    def exists(self, key: str) -> bool:
        if self.is_local:
            return os.path.exists(self.path(key))
        return bool(self.fs.exists(self.path(key)))

    def exists_many(self, keys: list[str]) -> list[bool]:
        """`exists` for many keys; on a local root, a missing folder answers for all its keys
        (a new store holds no `blobs/ab/` folders, so nothing is looked up one by one)."""
        if not self.is_local:
            return [self.exists(key) for key in keys]
        folders: dict[str, bool] = {}
        found = []
        root = self.root
        isdir, exists = os.path.isdir, os.path.exists
        for key in keys:
            folder = key.rpartition("/")[0]
            there = folders.get(folder)
            if there is None:
                there = folders[folder] = isdir(f"{root}/{folder}")
            found.append(there and exists(f"{root}/{key}"))
        return found

    def size(self, key: str) -> int:
        try:
            if self.is_local:
                return os.stat(self.path(key)).st_size
            return int(self.fs.size(self.path(key)))
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} not found under {self.root_uri}") from None

    def put_bytes(self, key: str, data: bytes, *, fsync: bool = True) -> None:
        """Write bytes under `key`; `fsync=False` as for `put_file`."""
        if self.is_local:
            with self._atomic_local(key, fsync=fsync) as handle:
                handle.write(data)
        else:
            self.fs.pipe_file(self.path(key), data)

    def put_file(
        self,
        key: str,
        source: Path | str,
        *,
        fsync: bool = True,
        expect: tuple[int, int] | None = None,
    ) -> None:
        """Copy a file in. With `fsync=False` the caller promises to call `sync()` before
        anything durable refers to the blob (one sync for a batch instead of one per file).
        `expect` is the source's (size, mtime_ns) when it was hashed: a source that no longer
        matches after the copy raises ChangedError and nothing is stored under `key`."""
        if self.is_local:
            with self._atomic_local(key, fsync=fsync) as handle, open(source, "rb") as src:
                _copy(src, handle)
                _check_unchanged(src, source, expect)
        else:
            self.fs.put_file(str(source), self.path(key))
            if expect is not None and _stat_key(os.stat(source)) != expect:
                self.fs.rm_file(self.path(key))
                raise ChangedError(f"{source} changed while it was being stored")

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
            # An fsspec writer uploads what it holds on close, even after an exception: spool
            # locally and upload only a complete blob, in one put (or a multipart upload, which
            # an object store makes visible only once it completes).
            with tempfile.NamedTemporaryFile(prefix="loopml-blob-") as spool:
                yield spool
                spool.flush()
                self.fs.put_file(spool.name, self.path(key))

    def open_read(self, key: str) -> IO[bytes]:
        try:
            if self.is_local:
                return open(self.path(key), "rb")  # the caller closes it
            return self.fs.open(self.path(key), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} not found under {self.root_uri}") from None

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as handle:
            return handle.read()

    def read_range(self, key: str, offset: int, size: int) -> bytes:
        """`size` bytes at `offset` (fewer only if the blob is shorter)."""
        if self.is_local:
            try:
                fd = os.open(self.path(key), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except FileNotFoundError:
                raise NotFoundError(f"blob {key} not found under {self.root_uri}") from None
            try:
                data = os.pread(fd, size, offset)
                while len(data) < size:
                    more = os.pread(fd, size - len(data), offset + len(data))
                    if not more:
                        break
                    data += more
                return data
            finally:
                os.close(fd)
        try:
            return bytes(self.fs.cat_file(self.path(key), start=offset, end=offset + size))
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} not found under {self.root_uri}") from None

    def list_keys(self, prefix: str) -> list[str]:
        """Keys directly under the folder `prefix` (none when it does not exist)."""
        if self.is_local:
            try:
                return [f"{prefix}/{e.name}" for e in os.scandir(self.path(prefix)) if e.is_file()]
            except FileNotFoundError:
                return []
        folder = self.path(prefix)
        self.fs.invalidate_cache(folder)  # another client may have added keys since
        try:
            found = self.fs.ls(folder, detail=False)
        except FileNotFoundError:
            return []
        return [f"{prefix}/{str(p).rstrip('/').rsplit('/', 1)[-1]}" for p in found]

    def list_info(self, prefix: str) -> list[tuple[str, int, float]]:
        """(key, size, modified epoch seconds) of the keys directly under the folder `prefix`."""
        if self.is_local:
            try:
                entries = list(os.scandir(self.path(prefix)))
            except FileNotFoundError:
                return []
            found = []
            for entry in entries:
                try:
                    stat = entry.stat()
                except FileNotFoundError:  # deleted since it was listed
                    continue
                if entry.is_file():
                    found.append((f"{prefix}/{entry.name}", stat.st_size, stat.st_mtime))
            return found
        folder = self.path(prefix)
        self.fs.invalidate_cache(folder)
        try:
            listed = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return []
        return [
            (f"{prefix}/{str(info['name']).rstrip('/').rsplit('/', 1)[-1]}", int(info["size"]),
             _modified(info))
            for info in listed if info.get("type") != "directory"
        ]  # fmt: skip

    def touch(self, key: str) -> None:
        """Mark a local blob as just written (a writer found it already there and is about
        to refer to it, so garbage collection's grace period covers it again)."""
        if self.is_local:
            with suppress(FileNotFoundError):
                os.utime(self.path(key))

    def delete(self, key: str) -> None:
        if self.is_local:
            os.unlink(self.path(key))
        else:
            self.fs.rm_file(self.path(key))

    @contextmanager
    def _atomic_local(self, key: str, *, fsync: bool = True) -> Iterator[IO[bytes]]:
        final = Path(self.path(key))
        if final.parent not in self._made_dirs:
            make_dirs(final.parent)
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


def _modified(info: dict[str, Any]) -> float:
    """An fsspec listing entry's modification time as epoch seconds (S3: LastModified)."""
    for name in ("LastModified", "mtime", "last_modified", "created"):
        value = info.get(name)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        return float(value)
    return time.time()  # unknown: count it as new, so a grace period keeps it


def _sweep(folder: Path, max_age_s: float) -> None:
    cutoff = time.time() - max_age_s
    for entry in os.scandir(folder):
        try:
            if entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
        except FileNotFoundError:  # another process swept it first
            pass


def _stat_key(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_size, stat.st_mtime_ns


def _check_unchanged(src: IO[bytes], source: Path | str, expect: tuple[int, int] | None) -> None:
    if expect is not None and _stat_key(os.fstat(src.fileno())) != expect:
        raise ChangedError(f"{source} changed while it was being stored")


def _copy(src: IO[bytes], dst: IO[bytes]) -> None:
    """Copy inside the kernel (copy_file_range, else sendfile): no trip through Python
    buffers. A large copy asks the kernel to start writing each step out while the next is
    copied (so the later sync has less left to wait for) and not to keep it cached."""
    size = os.fstat(src.fileno()).st_size
    in_fd, out_fd = src.fileno(), dst.fileno()
    offset = 0
    large = size >= LARGE_COPY and hasattr(os, "posix_fadvise")
    try:
        while offset < size:
            step = min(size - offset, COPY_STEP)
            if _HAS_COPY_FILE_RANGE:
                sent = os.copy_file_range(in_fd, out_fd, step, offset, offset)
            else:
                sent = os.sendfile(out_fd, in_fd, offset, step)
            if sent == 0:
                break
            if large:
                os.posix_fadvise(out_fd, offset, sent, os.POSIX_FADV_DONTNEED)
            offset += sent
    except OSError:  # a filesystem without in-kernel copies
        src.seek(offset)
        dst.seek(offset)
        shutil.copyfileobj(src, dst, CHUNK)


def _plain_local_root(uri: str) -> str | None:
    """The folder of a `file:///absolute/path` URI, read the way fsspec reads it (no
    percent-decoding), or None for anything else (fsspec then decides)."""
    if not uri.startswith("file:///"):
        return None
    path = uri[len("file://") :].rstrip("/")
    return path if path and ":" not in path else None


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
