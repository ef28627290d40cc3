"""Prediction logging off the request path: a bounded queue drained in batches by a thread.

A full queue drops the entry and counts it; logging never blocks or fails a request. Failed
model calls travel the same queue (a failing model must not cost a database write per request).
A failed write is tried again after a pause (the store restarting, or several serving
processes contending for SQLite's lock beyond its busy timeout) before its batch counts as lost.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence

from loopml.core.serving import Failure, Prediction

BATCH = 1_000
RETRY_PAUSES = (0.2, 1.0, 3.0)  # seconds before each new try of a failed write


class PredictionLogger:
    def __init__(
        self,
        write: Callable[[Sequence[Prediction]], None],
        write_failures: Callable[[Sequence[Failure]], None] | None = None,
        *,
        capacity: int = 100_000,
        interval: float = 0.5,
    ) -> None:
        self._write = write
        self._write_failures = write_failures
        self._queue: queue.Queue[Prediction | Failure] = queue.Queue(maxsize=capacity)
        self._interval = interval
        self._stop = threading.Event()
        self.dropped = 0
        self.written = 0
        self.failed_writes = 0
        self._thread = threading.Thread(target=self._run, name="loopml-prediction-log", daemon=True)
        self._thread.start()

    @property
    def interval(self) -> float:
        """Seconds between writes of what is queued."""
        return self._interval

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def log(self, predictions: Sequence[Prediction | Failure]) -> None:
        for prediction in predictions:
            try:
                self._queue.put_nowait(prediction)
            except queue.Full:
                self.dropped += 1

    def flush(self) -> None:
        """Write everything queued now, on the caller's thread."""
        self._drain()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self._interval)
            self._drain()
        self._drain()

    def _drain(self) -> None:
        while True:
            batch: list[Prediction | Failure] = []
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                return
            lost = self._write_batch(batch)
            if lost:
                self.failed_writes += 1
                self.dropped += lost

    def _write_batch(self, batch: list[Prediction | Failure]) -> int:
        """Write `batch`, trying again after each pause; return how many entries were lost."""
        predictions = [p for p in batch if isinstance(p, Prediction)]
        failures = [f for f in batch if isinstance(f, Failure)]
        for pause in (*RETRY_PAUSES, None):
            try:
                if predictions:
                    self._write(predictions)
                    predictions = []  # written: a retry of the failures must not repeat them
                if failures and self._write_failures is not None:
                    self._write_failures(failures)
                self.written += len(batch) - len(failures)
                return 0
            except Exception:
                if pause is None:
                    break
                time.sleep(pause)
        return len(predictions) + len(failures)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop."""
        self._stop.set()
        self._thread.join(timeout)
