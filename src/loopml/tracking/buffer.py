"""Metric points buffered in memory and written in batches by a background thread.

A training loop's `log_metric` only appends to a list; a thread writes the batch at least
every `flush_interval` seconds (and at once when the buffer grows large), and refreshes the
run's heartbeat. A failed write keeps the points for the next attempt, in order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from loopml.core.entities import Metric

log = logging.getLogger("loopml.tracking")
FLUSH_INTERVAL_S = 1.0
EAGER_FLUSH_POINTS = 20_000


class MetricBuffer:
    def __init__(
        self,
        write: Callable[[Sequence[Metric]], None],
        heartbeat: Callable[[], None],
        *,
        flush_interval: float = FLUSH_INTERVAL_S,
        heartbeat_interval: float = 30.0,
    ) -> None:
        self._write = write
        self._heartbeat = heartbeat
        self._flush_interval = flush_interval
        self._heartbeat_interval = heartbeat_interval
        self._points: deque[Metric] = deque()  # append and popleft are atomic: no lock per point
        self._flush_lock = threading.Lock()  # one writer at a time keeps batches in order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="loopml-metrics", daemon=True)
        self._thread.start()

    def add(self, point: Metric) -> None:
        self._points.append(point)
        if len(self._points) >= EAGER_FLUSH_POINTS:
            self._wake.set()

    def flush(self) -> None:
        """Write every buffered point now; on failure the points stay and the error is raised."""
        with self._flush_lock:
            batch = [self._points.popleft() for _ in range(len(self._points))]
            if not batch:
                return
            try:
                self._write(batch)
            except BaseException:
                self._points.extendleft(reversed(batch))
                raise

    def drain(self) -> list[Metric]:
        """Take every buffered point out (what could not be written, at the end)."""
        with self._flush_lock:
            return [self._points.popleft() for _ in range(len(self._points))]

    def close(self) -> None:
        """Stop the thread, then flush what is left (raising if that last write fails)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()

    def _loop(self) -> None:
        now = time.monotonic()
        next_flush, next_beat = now + self._flush_interval, now + self._heartbeat_interval
        while not self._stop.is_set():
            woken = self._wake.wait(max(0.0, min(next_flush, next_beat) - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return
            now = time.monotonic()
            if woken or now >= next_flush:
                self._quietly(self.flush, "write metrics")
                next_flush = now + self._flush_interval
            if now >= next_beat:
                self._quietly(self._heartbeat, "refresh the heartbeat")
                next_beat = now + self._heartbeat_interval

    @staticmethod
    def _quietly(action: Callable[[], None], what: str) -> None:
        try:
            action()
        except Exception as exc:  # retried on the next tick; the run's end raises if it persists
            log.warning("loopml could not %s (will retry): %s", what, exc)
