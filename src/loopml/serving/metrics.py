"""Prometheus metrics of a serving process (a registry of its own, no globals)."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("loopml.serving")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServingMetrics:
    """The metrics of one serving process. Under `loopml serve --workers N` (prometheus_client's
    multiprocess mode, PROMETHEUS_MULTIPROC_DIR set) each worker writes its values to files in
    that folder and the worker answering a scrape sums them; gauges read from callables are
    then set by `refresh` (every watch interval and at each scrape) instead of at scrape time,
    since a scrape cannot call into the other workers."""

    def __init__(self, depth: Any, dropped: Any) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.registry = CollectorRegistry()
        own = None if self.multiprocess_dir else self.registry  # multiprocess: read from files
        self._own = own
        self._refreshed: list[tuple[Any, Callable[[], float]]] = []
        labels = ("route", "model", "version")
        self.requests = Counter(
            "loopml_requests", "Prediction requests answered, by route, model version and "
            "HTTP status", (*labels, "status"), registry=own,
        )  # fmt: skip
        self.latency = Histogram(
            "loopml_request_latency_seconds", "Time to answer a prediction request",
            labels, buckets=LATENCY_BUCKETS, registry=own,
        )  # fmt: skip
        self.batch_size = Histogram(
            "loopml_batch_rows", "Rows per model call (after micro-batching)", ("model",),
            buckets=BATCH_BUCKETS, registry=own,
        )  # fmt: skip
        self.errors = Counter(
            "loopml_errors", "Requests refused or failed, by reason", ("reason",),
            registry=own,
        )  # fmt: skip
        self.shadow_skipped = Counter(
            "loopml_shadow_skipped", "Shadow copies skipped because the shadow was saturated",
            registry=own,
        )  # fmt: skip
        self._gauge("loopml_serving_workers", "Serving processes answering requests", lambda: 1)
        self._gauge("loopml_prediction_log_queue_depth", "Predictions waiting to be written",
                    depth)  # fmt: skip
        self._gauge("loopml_prediction_log_dropped", "Predictions dropped from the log (queue "
                    "full or store down)", dropped)  # fmt: skip
        if self.multiprocess_dir:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(self.registry, path=self.multiprocess_dir)

    def _gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is `read()`, summed over the live workers."""
        from prometheus_client import Gauge

        gauge = Gauge(name, documentation, registry=self._own, multiprocess_mode="livesum")
        if self.multiprocess_dir:
            self._refreshed.append((gauge, read))
            gauge.set(read())
        else:
            gauge.set_function(read)

    def refresh(self) -> None:
        """Write this worker's gauges (multiprocess mode; a no-op otherwise)."""
        for gauge, read in self._refreshed:
            gauge.set(read())

    def close(self) -> None:
        """This worker's live gauges stop counting (multiprocess mode)."""
        if self.multiprocess_dir:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(os.getpid(), self.multiprocess_dir)

    def watch_workers(
        self, capacity: int, busy: Callable[[], int], stuck: Callable[[], int]
    ) -> None:
        """Gauges of the model workers and the refusals they caused."""
        from prometheus_client import Counter

        self._gauge("loopml_model_workers", "Model worker threads", lambda: capacity)
        self._gauge("loopml_model_workers_busy", "Model workers running a call", busy)
        self._gauge(
            "loopml_model_workers_stuck", "Model workers running a call that outlived the "
            "request timeout (the request got 504; the call cannot be stopped)", stuck,
        )  # fmt: skip
        self.saturated = Counter(
            "loopml_saturated_refusals", "Requests refused (503) because every model worker "
            "was stuck", registry=self._own,
        )  # fmt: skip

    def watch_reports(self, store: Any, deployment: str) -> None:
        """Export the latest stored monitoring report of `deployment` (read at scrape time)."""
        target = f"deployment:{deployment}"
        self.registry.register(ReportCollector(lambda: _latest(store, target)))

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        self.refresh()
        return generate_latest(self.registry)


def _latest(store: Any, target: str) -> Any:
    found = store.list(target, limit=1)
    return found[0] if found else None


class ReportCollector:
    """Gauges of the latest monitoring report: drift share, the dataset verdict, each column's
    drift statistic and the performance metrics. The store is read at most every `ttl`
    seconds; when it fails, the last report read is exported again."""

    def __init__(
        self, latest: Callable[[], Any], ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._latest, self._ttl, self._clock = latest, ttl, clock
        self._report: Any = None
        self._read_at = -math.inf
        self._lock = threading.Lock()

    def describe(self) -> list[Any]:
        return []  # the names are fixed in collect; nothing to check for clashes up front

    def collect(self) -> Iterator[Any]:
        report = self.report()
        if report is None:
            return
        yield from _families(report)

    def report(self) -> Any:
        with self._lock:
            now = self._clock()
            if now - self._read_at >= self._ttl:
                self._read_at = now
                try:
                    self._report = self._latest()
                except Exception:  # a scrape never fails because the store did
                    log.exception("could not read the latest monitoring report")
            return self._report


def _families(report: Any) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    yield GaugeMetricFamily("loopml_drift_share", "Share of columns drifted in the latest "
                            "monitoring report", value=_float(report.drift_share))  # fmt: skip
    yield GaugeMetricFamily("loopml_dataset_drift", "1 when the latest monitoring report "
                            "found dataset drift", value=float(report.dataset_drift))  # fmt: skip
    yield GaugeMetricFamily(
        "loopml_monitor_report_timestamp_seconds",
        "When the latest monitoring report was made",
        value=report.time.timestamp(),
    )
    columns = GaugeMetricFamily(
        "loopml_column_drift_statistic", "Drift statistic per column in the latest report "
        "(a p-value for ks and chisquare, else a distance)", labels=("column", "test"),
    )  # fmt: skip
    for name, column in report.columns.items():
        columns.add_metric((name, column.test), _float(column.statistic))
    yield columns
    performance = GaugeMetricFamily(
        "loopml_performance", "Model performance on the labeled predictions of the latest "
        "report", labels=("metric",),
    )  # fmt: skip
    for name, value in report.performance.metrics.items():
        performance.add_metric((name,), _float(value))
    yield performance


def _float(value: Any) -> float:
    try:
        return float(value)  # stored reports keep NaN as the string "nan"
    except (TypeError, ValueError):
        return math.nan
