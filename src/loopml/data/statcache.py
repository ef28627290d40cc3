"""A local cache of file digests keyed by (path, size, mtime, inode).

Re-adding an unchanged folder then costs a stat per file instead of reading every byte. The
cache is a small SQLite file on the machine that owns the files (never the shared store),
because inode numbers and modification times only mean something there.

It also remembers, for a folder's whole stat listing (every path with its size, mtime and
inode, see `manifest.fingerprint`), the digest of the manifest built from it: a re-add whose
listing is unchanged then knows its dataset digest without loading the per-file entries or
building the manifest. It trusts exactly what the per-file entries trust.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS files (
        path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER, digest TEXT
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS listings (
        fingerprint TEXT PRIMARY KEY, digest TEXT NOT NULL, saved_ns INTEGER NOT NULL
    ) WITHOUT ROWID""",
)
LISTINGS_KEPT = 1000  # the most recently saved listings; older ones are dropped

Key = tuple[int, int, int]  # size, mtime_ns, inode


class StatCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        for statement in _SCHEMA:
            self._conn.execute(statement)

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
        try:
            self._conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", rows)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def listing_digest(self, fingerprint: str) -> str | None:
        """The manifest digest last built from this exact stat listing, if any."""
        row = self._conn.execute(
            "SELECT digest FROM listings WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        return row[0] if row else None

    def save_listing(self, fingerprint: str, digest: str, now_ns: int) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute(
                "INSERT OR REPLACE INTO listings VALUES (?, ?, ?)", (fingerprint, digest, now_ns)
            )
            self._conn.execute(
                "DELETE FROM listings WHERE fingerprint NOT IN "
                "(SELECT fingerprint FROM listings ORDER BY saved_ns DESC LIMIT ?)",
                (LISTINGS_KEPT,),
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()
