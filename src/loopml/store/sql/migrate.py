"""Bring a store's schema to the head revision, safely when several processes start at once.

The common case (already at head) costs one query and never imports Alembic. Otherwise the
upgrade runs under a lock that spans processes: an flock beside a SQLite file, an advisory
lock on PostgreSQL. The revision is read again under the lock, so the loser of a race finds
the work done.
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

HEAD_REVISION = "0012"
_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = zlib.crc32(b"loopml-migrate")


def current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _fast_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError:
        return None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade to `revision` (default head); a no-op when the store is already there."""
    if revision == "head" and _fast_revision(engine) == HEAD_REVISION:
        return
    with _migration_lock(engine):
        with engine.connect() as conn:
            if revision == "head" and current_revision(conn) == HEAD_REVISION:
                return
        _run_alembic(engine, revision)


def _run_alembic(engine: Engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect().execution_options(loopml_write=True) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


def script_head() -> str:
    """The head revision according to the migration scripts (checked against HEAD_REVISION)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
