"""A local cache of file digests keyed by (path, size, mtime, inode).

Re-adding an unchanged folder then costs a stat per file instead of reading every byte. The
cache is a small SQLite file on the machine that owns the files (never the shared store),
because inode numbers and modification times only mean something there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER, digest TEXT
) WITHOUT ROWID
"""

Key = tuple[int, int, int]  # size, mtime_ns, inode


class StatCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(_SCHEMA)

    def load(self, folder: Path) -> dict[str, tuple[Key, str]]:
        """Cached entries under `folder`, by absolute path."""
        prefix = str(folder)
        rows = self._conn.execute(
            "SELECT path, size, mtime_ns, inode, digest FROM files WHERE path >= ? AND path < ?",
            (prefix, prefix + "\U0010ffff"),
        )
        return {path: ((size, mtime, inode), digest) for path, size, mtime, inode, digest in rows}

    def save(self, entries: Iterable[tuple[str, Key, str]]) -> None:
        rows = [(path, *key, digest) for path, key, digest in entries]
        if not rows:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", rows)
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()
