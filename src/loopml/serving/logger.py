"""Prediction logging off the request path: a bounded queue drained in batches by a thread.

A full queue drops the entry and counts it; logging never blocks or fails a request. Failed
model calls travel the same queue (a failing model must not cost a database write per request).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

from loopml.core.serving import Failure, Prediction

BATCH = 1_000


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
            predictions = [p for p in batch if isinstance(p, Prediction)]
            failures = [f for f in batch if isinstance(f, Failure)]
            try:
                if predictions:
                    self._write(predictions)
                if failures and self._write_failures is not None:
                    self._write_failures(failures)
                self.written += len(predictions)
            except Exception:  # the store is down: these are lost, and counted as such
                self.failed_writes += 1
                self.dropped += len(batch)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop."""
        self._stop.set()
        self._thread.join(timeout)
