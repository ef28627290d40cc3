"""Scan a file or folder, hash its files in parallel (reusing the stat cache), and build the
manifest whose BLAKE3 digest names the dataset version."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from loopml.artifacts.hashing import digest_bytes, digest_file
from loopml.core.datasets import ManifestEntry
from loopml.core.errors import InvalidArgumentError
from loopml.data.statcache import Key, StatCache

Progress = Callable[[str, int, int], None]  # phase, done, total
T = TypeVar("T")
HASH_WORKERS = max(2, min(8, 2 * (os.cpu_count() or 1)))


@dataclasses.dataclass(frozen=True, slots=True)
class LocalFile:
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
    files.sort(key=lambda f: f.rel)
    return files


def _walk(folder: str, prefix: str, out: list[LocalFile]) -> None:
    try:
        entries = list(os.scandir(folder))
    except PermissionError:
        raise InvalidArgumentError(f"cannot read folder {folder}: permission denied") from None
    for entry in entries:
        rel = prefix + entry.name
        if entry.is_symlink():
            raise InvalidArgumentError(f"{entry.path} is a symbolic link; links are not versioned")
        if entry.is_dir(follow_symlinks=False):
            _walk(entry.path, rel + "/", out)
        elif entry.is_file(follow_symlinks=False):
            out.append(_local(rel, entry.path, entry.stat(follow_symlinks=False)))


def _local(rel: str, path: str, stat: os.stat_result) -> LocalFile:
    return LocalFile(rel, path, (stat.st_size, stat.st_mtime_ns, stat.st_ino))


def chunks(files: list[T], *, target_bytes: int = 16 << 20, max_files: int = 512) -> list[list[T]]:
    """Group small files so each thread-pool task does real work (a future per 4 KiB file
    costs more than hashing it); a large file gets a chunk of its own."""
    groups: list[list[T]] = []
    current: list[T] = []
    size = 0
    for f in files:
        current.append(f)
        size += f.size  # type: ignore[attr-defined]
        if size >= target_bytes or len(current) >= max_files:
            groups.append(current)
            current, size = [], 0
    if current:
        groups.append(current)
    return groups


def hash_files(
    files: list[LocalFile], cache: StatCache, root: Path, progress: Progress | None = None
) -> list[ManifestEntry]:
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
    total_bytes, done = sum(f.size for f in missing), 0
    with ThreadPoolExecutor(HASH_WORKERS) as pool:
        for group, results in zip(
            chunks(missing), pool.map(_digest_all, chunks(missing)), strict=True
        ):
            for f, digest in zip(group, results, strict=True):
                digests[f.path] = digest
                done += f.size
            if progress:
                progress("hashing", done, total_bytes)
    cache.save((f.path, f.key, digests[f.path]) for f in missing)
    return [ManifestEntry(f.rel, digests[f.path], f.size) for f in files]


def _digest_all(group: list[LocalFile]) -> list[str]:
    return [_digest(f) for f in group]


def _digest(f: LocalFile) -> str:
    try:
        return digest_file(f.path, size=f.size)
    except PermissionError:
        raise InvalidArgumentError(f"cannot read {f.path}: permission denied") from None
    except FileNotFoundError:
        raise InvalidArgumentError(f"{f.path} disappeared while it was being added") from None


def manifest_bytes(entries: list[ManifestEntry]) -> bytes:
    """Canonical JSON: equal content gives equal bytes, hence an equal dataset digest."""
    rows = [[e.path, e.digest, e.size] for e in entries]
    return json.dumps({"files": rows}, separators=(",", ":")).encode()


def parse_manifest(data: bytes) -> list[ManifestEntry]:
    return [ManifestEntry(p, d, s) for p, d, s in json.loads(data)["files"]]


def manifest_digest(entries: list[ManifestEntry]) -> str:
    return digest_bytes(manifest_bytes(entries))
