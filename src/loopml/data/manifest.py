"""Scan a file or folder, hash its files in parallel (reusing the stat cache), and build the
manifest whose BLAKE3 digest names the dataset version."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from blake3 import blake3

from loopml.artifacts.hashing import MMAP_THRESHOLD, ChangedError, digest_bytes, digest_file
from loopml.core.datasets import ManifestEntry
from loopml.core.errors import InvalidArgumentError
from loopml.data.statcache import Key, StatCache

Progress = Callable[[str, int, int], None]  # phase, done, total
HASH_WORKERS = max(2, min(8, 2 * (os.cpu_count() or 1)))
_new = tuple.__new__
_O_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
LISTING_FORMAT = "loopml-listing-1"  # change it when what a listing's digest means changes


class Entry(NamedTuple):
    """A manifest row (the fields of core's ManifestEntry, as a cheap tuple)."""

    path: str  # relative, '/'-separated
    digest: str
    size: int


class LocalFile(NamedTuple):
    """A file found by `scan` (a tuple: tens of thousands are made per add)."""

    rel: str
    path: str
    key: Key  # size, mtime_ns, inode

    @property
    def size(self) -> int:
        return self.key[0]


def scan(path: Path) -> list[LocalFile]:
    """Regular files of a file or folder, sorted by relative path. Symbolic links are refused
    (one could point anywhere, and following it would version data outside the folder)."""
    if not os.path.lexists(path):
        raise InvalidArgumentError(f"{path} does not exist")
    if path.is_symlink():
        raise InvalidArgumentError(f"{path} is a symbolic link; add what it points to")
    root = path.resolve()
    if root.is_file():
        return [_local(root.name, str(root), os.stat(root))]
    if not root.is_dir():
        raise InvalidArgumentError(f"{path} is neither a file nor a folder")
    files: list[LocalFile] = []
    _walk(str(root), "", files)
    if not files:
        raise InvalidArgumentError(f"{path} holds no files")
    files.sort()  # by relative path (the first field; relative paths are unique)
    return files


def _walk(folder: str, prefix: str, out: list[LocalFile]) -> None:
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except PermissionError:
        raise InvalidArgumentError(f"cannot read folder {folder}: permission denied") from None
    append = out.append
    for entry in entries:
        if entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            key = (st.st_size, st.st_mtime_ns, st.st_ino)
            # tuple.__new__ directly: a NamedTuple's own __new__ is a Python-level call
            append(_new(LocalFile, (prefix + entry.name, entry.path, key)))
        elif entry.is_dir(follow_symlinks=False):
            _walk(entry.path, prefix + entry.name + "/", out)
        elif entry.is_symlink():
            raise InvalidArgumentError(f"{entry.path} is a symbolic link; links are not versioned")


def fingerprint(root: Path, files: list[LocalFile]) -> str:
    """A digest of the whole stat listing (the root, and every relative path with its size,
    mtime and inode): equal listings, equal fingerprints, so the stat cache can answer for
    the folder as a whole. Fields end with NUL, which no file name contains."""
    parts = [f"{LISTING_FORMAT}\0{root}\0"]
    parts += [f"{f[0]}\0{f[2][0]}\0{f[2][1]}\0{f[2][2]}\0" for f in files]
    return digest_bytes("".join(parts).encode("utf-8", "surrogatepass"))


def _local(rel: str, path: str, stat: os.stat_result) -> LocalFile:
    return LocalFile(rel, path, (stat.st_size, stat.st_mtime_ns, stat.st_ino))


def chunks(
    files: list[LocalFile], *, target_bytes: int = 16 << 20, max_files: int = 512
) -> list[list[LocalFile]]:
    """Group small files so each thread-pool task does real work (a future per 4 KiB file
    costs more than hashing it); a large file gets a chunk of its own."""
    groups: list[list[LocalFile]] = []
    current: list[LocalFile] = []
    size = 0
    for f in files:
        current.append(f)
        size += f.key[0]
        if size >= target_bytes or len(current) >= max_files:
            groups.append(current)
            current, size = [], 0
    if current:
        groups.append(current)
    return groups


@dataclasses.dataclass
class Kept:
    """Bytes of small files read while hashing, by digest, so that storing them needs no
    second read: files of at most `max_file` bytes, at most `budget` bytes in all."""

    max_file: int
    budget: int
    data: dict[str, bytes] = dataclasses.field(default_factory=dict)


def hash_files(
    files: list[LocalFile],
    cache: StatCache,
    root: Path,
    progress: Progress | None = None,
    *,
    keep: Kept | None = None,
) -> list[Entry]:
    """Digests for every file: from the stat cache when size, mtime and inode match, else
    hashed by a pool of threads (file reads and BLAKE3 on large inputs release the GIL)."""
    known = cache.load(root.resolve())
    digests: dict[str, str] = {}
    missing = []
    for f in files:
        cached = known.get(f.path)
        if cached is not None and cached[0] == f.key:
            digests[f.path] = cached[1]
        else:
            missing.append(f)
    if missing:
        groups = chunks(missing)
        total = sum(f.key[0] for f in missing)
        jobs = [(group, _keep_flags(group, keep)) for group in groups]
        if len(jobs) == 1:
            _record(groups, [_digest_all(jobs[0])], digests, progress, total)
        else:
            with ThreadPoolExecutor(min(HASH_WORKERS, len(jobs))) as pool:
                _record(groups, pool.map(_digest_all, jobs), digests, progress, total)
        if keep is not None:
            for group, (_, flags) in zip(groups, jobs, strict=True):
                for f, data in zip(group, flags, strict=True):
                    if isinstance(data, bytes):
                        keep.data[digests[f.path]] = data
        cache.save((f.path, f.key, digests[f.path]) for f in missing)
    return [_new(Entry, (f.rel, digests[f.path], f.key[0])) for f in files]


def _keep_flags(group: list[LocalFile], keep: Kept | None) -> list[bool | bytes]:
    """Which files of a group to keep the bytes of; a worker replaces True by the bytes."""
    if keep is None:
        return [False] * len(group)
    flags: list[bool | bytes] = []
    for f in group:
        size = f.key[0]
        wanted = size <= keep.max_file and size <= keep.budget
        if wanted:
            keep.budget -= size
        flags.append(wanted)
    return flags


def _record(
    groups: list[list[LocalFile]],
    results: Iterable[list[str]],
    digests: dict[str, str],
    progress: Progress | None,
    total_bytes: int,
) -> None:
    done = 0
    for group, found in zip(groups, results, strict=True):
        for f, digest in zip(group, found, strict=True):
            digests[f.path] = digest
            done += f.key[0]
        if progress:
            progress("hashing", done, total_bytes)


def _digest_all(job: tuple[list[LocalFile], list[bool | bytes]]) -> list[str]:
    group, keep = job
    out = []
    for i, f in enumerate(group):
        size = f.key[0]
        if size < MMAP_THRESHOLD:  # the common case, inlined: one open, one read, one close
            try:
                fd = os.open(f.path, _O_READ)
            except OSError:
                out.append(_digest(f))  # raises the clear error
                continue
            try:
                data = os.read(fd, size + 1)
            finally:
                os.close(fd)
            if len(data) == size:
                out.append(blake3(data).hexdigest())
                if keep[i]:
                    keep[i] = data
                continue
            keep[i] = False
        out.append(_digest(f))
    return out


def _digest(f: LocalFile) -> str:
    try:
        return digest_file(f.path, size=f.key[0])
    except PermissionError:
        raise InvalidArgumentError(f"cannot read {f.path}: permission denied") from None
    except FileNotFoundError:
        raise InvalidArgumentError(f"{f.path} disappeared while it was being added") from None
    except ChangedError:
        raise InvalidArgumentError(f"{f.path} changed while it was being added") from None


def manifest_bytes(entries: Sequence[Entry | ManifestEntry]) -> bytes:
    """Canonical JSON: equal content gives equal bytes, hence an equal dataset digest."""
    rows = [e if isinstance(e, tuple) else (e.path, e.digest, e.size) for e in entries]
    return json.dumps({"files": rows}, separators=(",", ":")).encode()


def parse_manifest(data: bytes) -> list[ManifestEntry]:
    return [ManifestEntry(p, d, s) for p, d, s in json.loads(data)["files"]]


def manifest_digest(entries: Sequence[Entry | ManifestEntry]) -> str:
    return digest_bytes(manifest_bytes(entries))
