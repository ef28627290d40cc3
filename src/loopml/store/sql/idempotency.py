"""Idempotency keys in SQL, for the server: a retried write answers with the first answer, in
any worker and after a restart.

A key is claimed by inserting its row (the insert decides races between workers); the answer
is written into the row when the call succeeds, and the row is dropped when it fails, so a
retry of a failed call runs again. A key is bound to the digest of the call it came with: the
same key with another call is a ConflictError. Rows expire after a day; a claim whose call
never answered (its worker died) may be taken over after a few minutes.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.errors import ConflictError
from loopml.core.ids import now_ms
from loopml.store.sql import schema as t
from loopml.store.sql.dialect import insert_ignore
from loopml.store.sql.engine import write

TTL_MS = 24 * 3600 * 1000
ABANDONED_MS = 5 * 60 * 1000  # no store call runs this long: its worker is gone
SWEEP_EVERY_MS = 10 * 60 * 1000


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """`owned`: this caller runs the call. Otherwise `result` is the first answer (JSON),
    or None while the first call still runs."""

    owned: bool
    result: str | None = None


class SqlIdempotencyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._next_sweep_ms = 0

    def claim(self, key_hash: str, request_digest: str) -> Claim:
        now = now_ms()
        if now >= self._next_sweep_ms:
            self._next_sweep_ms = now + SWEEP_EVERY_MS
            self.expire(now - TTL_MS)
        keys = t.idempotency_keys
        row = {"key_hash": key_hash, "request_digest": request_digest, "result": None,
               "created_ms": now, "claimed_ms": now}  # fmt: skip

        def work(conn: Connection) -> Claim:
            found = conn.execute(sa.select(keys).where(keys.c.key_hash == key_hash)).first()
            if found is not None and found.created_ms < now - TTL_MS:  # expired
                conn.execute(keys.delete().where(keys.c.key_hash == key_hash))
                found = None
            if found is None:
                claim = insert_ignore(conn, keys).returning(keys.c.key_hash)
                if conn.execute(claim, row).first() is not None:  # inserted: ours
                    return Claim(owned=True)
                found = conn.execute(sa.select(keys).where(keys.c.key_hash == key_hash)).one()
            if found.request_digest != request_digest:
                raise ConflictError(
                    "Idempotency-Key was already used for another call (another method or "
                    "body): use a new key for each call"
                )
            if found.result is not None:
                return Claim(owned=False, result=found.result)
            if found.claimed_ms < now - ABANDONED_MS:  # the first call's worker died
                taken = conn.execute(
                    keys.update()
                    .where(keys.c.key_hash == key_hash, keys.c.claimed_ms == found.claimed_ms)
                    .values(claimed_ms=now)
                )
                return Claim(owned=taken.rowcount == 1)
            return Claim(owned=False)

        return write(self._engine, work)

    def finish(self, key_hash: str, result: str) -> None:
        keys = t.idempotency_keys
        query = keys.update().where(keys.c.key_hash == key_hash).values(result=result)
        write(self._engine, lambda conn: conn.execute(query))

    def release(self, key_hash: str) -> None:
        """The call failed: forget the key, so that a retry runs it again."""
        keys = t.idempotency_keys
        query = keys.delete().where(keys.c.key_hash == key_hash, keys.c.result.is_(None))
        write(self._engine, lambda conn: conn.execute(query))

    def expire(self, before_ms: int) -> int:
        keys = t.idempotency_keys
        query = keys.delete().where(keys.c.created_ms < before_ms)
        return int(write(self._engine, lambda conn: conn.execute(query).rowcount))
