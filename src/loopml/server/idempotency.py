"""Idempotency-Key on the server's writes: a client retrying a write whose answer was lost gets
the first answer back instead of applying the write twice.

Keys live in the workspace's database (`SqlIdempotencyStore`), so they hold across workers and
restarts, and expire after a day. A key belongs to the user who sent it and is bound to the
call it first came with (store, method and arguments, by digest): the same key sent with
another call is refused with 409. A retry that arrives while the first attempt still runs
waits for its answer. Reads carry keys too (the client sends one with every call) but change
nothing, so they run as they come.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from loopml.core.errors import InvalidArgumentError, StoreUnavailableError

MAX_KEY_LENGTH = 256
WAIT_S = 60.0  # for the first attempt of a call to answer, before asking to retry later
POLL_S = 0.05


def request_digest(store: str, method: str, kwargs: Any) -> str:
    """The call a key is bound to: store, method and the arguments as sent (canonical JSON)."""
    canonical = json.dumps({"call": f"{store}.{method}", "kwargs": kwargs}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=True)  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_hash(user: str | None, key: str) -> str:
    return hashlib.sha256(f"{user or ''}\x00{key}".encode("utf-8", "surrogatepass")).hexdigest()


def run(
    backend: Any, user: str | None, key: str | None, digest: str, work: Callable[[], Any]
) -> Any:
    """`work()` once per (user, key): later calls with the key get its first answer. Without a
    key or a backend (a server over a remote store), `work()` as it comes."""
    if key is None or backend is None:
        return work()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidArgumentError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    hashed = key_hash(user, key)
    deadline = time.monotonic() + WAIT_S
    while True:
        claim = backend.claim(hashed, digest)  # ConflictError: the key came with another call
        if claim.owned:
            try:
                answer = work()
            except BaseException:
                backend.release(hashed)  # an error is not kept: the retry runs again
                raise
            backend.finish(hashed, json.dumps(answer))
            return answer
        if claim.result is not None:
            return json.loads(claim.result)
        if time.monotonic() > deadline:
            raise StoreUnavailableError(
                "the first call with this Idempotency-Key is still running; retry later"
            )
        time.sleep(POLL_S)
