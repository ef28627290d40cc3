"""Answers kept by Idempotency-Key, so a client retrying a write whose answer was lost gets the
first answer back instead of applying the write twice. In memory and bounded: a retry comes
within seconds, not after a server restart."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

MAX_KEYS = 50_000


class IdempotencyCache:
    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._running: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def run(self, key: Hashable | None, work: Callable[[], Any]) -> Any:
        """`work()`, unless a call with the same key already answered: then that answer."""
        if key is None:
            return work()
        with self._lock:
            gate = self._running.setdefault(key, threading.Lock())
        with gate:  # a retry racing the first attempt waits for it
            with self._lock:
                if key in self._answers:
                    return self._answers[key]
            answer = work()  # an error is not kept: the retry runs again
            with self._lock:
                self._answers[key] = answer
                while len(self._answers) > self.max_keys:
                    self._answers.popitem(last=False)
                self._running.pop(key, None)
            return answer
