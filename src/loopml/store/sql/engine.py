"""Engines tuned per dialect, and the one way to run a write transaction with retries.

SQLite: WAL journal, a busy timeout, and writes that start with BEGIN IMMEDIATE so that two
writers queue on the lock instead of failing with "database is locked" when a read transaction
tries to upgrade. Both dialects retry transient lock, deadlock and serialization errors.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url

from loopml.core.dirs import make_dirs
from loopml.core.errors import InvalidArgumentError, StoreUnavailableError
from loopml.core.extras import missing_extra

T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_ATTEMPTS = 8
_TRANSIENT_MARKERS = (
    "database is locked",
    "database table is locked",
    "deadlock detected",
    "could not serialize access",
)


def create_engine(uri: str) -> Engine:
    try:
        url = make_url(uri)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise InvalidArgumentError(f"invalid store URI {uri!r}: {exc}") from None
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        try:  # the dialect imports its driver here: a missing one names the extra to install
            return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        except ImportError as exc:
            error = missing_extra(exc)
            if error is None:
                raise
            raise error from None
    raise InvalidArgumentError(
        f"unsupported store URI {uri!r}: use sqlite:///PATH or postgresql+psycopg://..."
    )


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        make_dirs(Path(url.database).parent)
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the begin hook below open transactions
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("loopml_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT_MARKERS)


@contextmanager
def _write_connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect().execution_options(loopml_write=True) as conn, conn.begin():
        yield conn


def write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` in one write transaction, retrying transient lock errors with backoff."""
    delay = 0.01
    for attempt in range(WRITE_ATTEMPTS):
        try:
            with _write_connection(engine) as conn:
                return work(conn)
        except sa.exc.OperationalError as exc:
            if not is_transient(exc) or attempt == WRITE_ATTEMPTS - 1:
                raise _unavailable(exc) from exc
        except sa.exc.DBAPIError as exc:
            if not is_transient(exc) or attempt == WRITE_ATTEMPTS - 1:
                raise
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


def read(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` on one connection inside a read transaction (a consistent snapshot)."""
    try:
        with engine.connect() as conn, conn.begin():
            return work(conn)
    except sa.exc.OperationalError as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: sa.exc.OperationalError) -> StoreUnavailableError:
    return StoreUnavailableError(f"metadata store error: {str(exc.orig or exc).strip()}")
