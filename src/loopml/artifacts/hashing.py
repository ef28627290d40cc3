"""BLAKE3 digests of bytes and files, multithreaded and memory-mapped for large files."""

from __future__ import annotations

import os
import re
from pathlib import Path

import blake3

_DIGEST_RE = re.compile(r"[0-9a-f]{64}")

MMAP_THRESHOLD = 1 << 20  # below this, one read beats setting up a mapping


def digest_bytes(data: bytes | memoryview) -> str:
    return blake3.blake3(data).hexdigest()


def read_small(path: Path | str, size: int) -> bytes:
    """The whole of a small file in one read of its known size (a read into a buffer sized
    for the file, not a growing one). A file whose size is not `size` raises ChangedError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        data = os.read(fd, size + 1)
        while len(data) <= size:  # short reads happen on some filesystems
            more = os.read(fd, size + 1 - len(data))
            if not more:
                break
            data += more
    finally:
        os.close(fd)
    if len(data) != size:
        raise ChangedError(f"{path} changed size while it was read ({size} -> {len(data)}+ bytes)")
    return data


class ChangedError(OSError):
    """A file changed while it was being hashed or copied."""


def digest_file(path: Path | str, *, size: int | None = None) -> str:
    size = os.stat(path).st_size if size is None else size
    if size < MMAP_THRESHOLD:
        return blake3.blake3(read_small(path, size)).hexdigest()
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(str(path))
    return hasher.hexdigest()


def new_hasher() -> blake3.blake3:
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


def is_digest(text: str) -> bool:
    return _DIGEST_RE.fullmatch(text) is not None
