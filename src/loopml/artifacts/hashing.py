"""BLAKE3 digests of bytes and files, multithreaded and memory-mapped for large files."""

from __future__ import annotations

import re
from pathlib import Path

import blake3

_DIGEST_RE = re.compile(r"[0-9a-f]{64}")

MMAP_THRESHOLD = 1 << 20  # below this, one read beats setting up a mapping


def digest_bytes(data: bytes | memoryview) -> str:
    return blake3.blake3(data).hexdigest()


def digest_file(path: Path | str, *, size: int | None = None) -> str:
    size = Path(path).stat().st_size if size is None else size
    if size < MMAP_THRESHOLD:
        with open(path, "rb") as handle:
            return blake3.blake3(handle.read()).hexdigest()
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(str(path))
    return hasher.hexdigest()


def new_hasher() -> blake3.blake3:
    return blake3.blake3(max_threads=blake3.blake3.AUTO)


def is_digest(text: str) -> bool:
    return _DIGEST_RE.fullmatch(text) is not None
