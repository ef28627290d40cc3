"""The serving state of one process: loaded models, the routing table, and the watcher that
follows the deployment in the store.

Changes apply without dropping requests: the models of a new revision are loaded first (in a
thread), then the table is swapped in one assignment; requests in flight keep the table, and
so the model, they started with.

A model call cannot be stopped once it runs (a thread cannot be killed): a request that times
out answers 504, but its call keeps its worker. A call running longer than the request timeout
is *stuck*; while every worker is stuck the service is *saturated*: requests are refused at
once (503 with Retry-After) instead of queueing for a timeout, and readiness is false, until a
call ends. Saturated for longer than `stuck_liveness`, liveness turns false too, so that an
orchestrator restarts the process (the only way to get those threads back).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import math
import threading
import time
from typing import Any

import pandas as pd

from loopml.core.serving import Deployment
from loopml.registry.api import load
from loopml.registry.loaded import LoadedModel
from loopml.serving.batching import MicroBatcher
from loopml.serving.logger import PredictionLogger
from loopml.serving.metrics import ServingMetrics
from loopml.serving.routing import RoutingTable, Served, build_table
from loopml.workspace import Workspace

log = logging.getLogger("loopml.serving")


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    max_body_bytes: int = 1 << 20
    request_timeout: float = 10.0
    max_concurrency: int = 8  # model calls at once
    max_queue: int = 256  # requests waiting for a model call beyond that: then 503
    threads: int = 4
    batch_max_rows: int = 0  # 0: micro-batching off (best single-row latency)
    batch_max_wait: float = 0.002
    watch_interval: float = 1.0
    log_capacity: int = 100_000
    trust: bool = False  # load pickle-based models
    token: str | None = None  # required as a Bearer token on every route but health
    # Host header values answered besides the defaults for the bound address (loopback names;
    # on another address also this machine's names and addresses); "*" answers any.
    allowed_hosts: tuple[str, ...] = ()
    allow_missing: bool = False  # pass null/NaN in numeric columns to the model (else 422)
    stuck_liveness: float = 300.0  # seconds saturated before liveness fails; 0: never
    workers: int = 1  # serving processes behind the socket (`loopml serve --workers`)


class Saturated(Exception):
    """Every model worker is running a call that outlived its request."""


class Service:
    def __init__(self, workspace: Workspace, deployment: str, settings: ServeSettings) -> None:
        self.workspace = workspace
        self.deployment = deployment
        self.settings = settings
        self.table: RoutingTable | None = None
        self.draining = False
        predictions = workspace.store.predictions
        self.logger = PredictionLogger(predictions.log, predictions.log_failures,
                                       capacity=settings.log_capacity)  # fmt: skip
        self.metrics = ServingMetrics(lambda: self.logger.depth, lambda: self.logger.dropped)
        self.metrics.watch_reports(workspace.store.monitoring, deployment)
        self.pool = concurrent.futures.ThreadPoolExecutor(settings.threads, "loopml-predict")
        self._started: dict[int, float] = {}  # worker thread -> when its model call began
        self._started_lock = threading.Lock()
        self.metrics.watch_workers(settings.threads, self.busy_workers, self.stuck_workers)
        self._models: dict[str, LoadedModel] = {}
        self._batchers: dict[str, MicroBatcher] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self.waiting = 0
        self.shadow_busy = 0
        self._watcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()

    def keep(self, task: asyncio.Future[Any]) -> None:
        """Hold a reference to a background task (shadow calls) until it is done."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def ready(self) -> bool:
        return self.table is not None and not self.draining and not self.saturated()

    @property
    def live(self) -> bool:
        limit = self.settings.stuck_liveness
        return not (limit > 0 and self.saturated_for() > limit)

    # -- stuck model calls ------------------------------------------------------------------
    def busy_workers(self) -> int:
        return len(self._started)

    def _stuck_starts(self) -> list[float]:
        """When each stuck call began (calls running longer than the request timeout)."""
        if not self._started:
            return []
        limit = time.monotonic() - self.settings.request_timeout
        with self._started_lock:
            return [t for t in self._started.values() if t < limit]

    def stuck_workers(self) -> int:
        return len(self._stuck_starts())

    def saturated(self) -> bool:
        if len(self._started) < self.settings.threads:  # the usual case: no lock, no scan
            return False
        return len(self._stuck_starts()) >= self.settings.threads

    def saturated_for(self) -> float:
        """Seconds every worker has been stuck (0 when not saturated)."""
        if not self.saturated():
            return 0.0
        latest = max(self._stuck_starts(), default=math.inf)  # the last to become stuck
        return max(0.0, time.monotonic() - latest - self.settings.request_timeout)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await self._apply(await self._in_thread(self._read_deployment))
        self._watcher = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        self.draining = True
        if self._watcher is not None:
            self._watcher.cancel()
        await asyncio.get_running_loop().run_in_executor(None, self.logger.close)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.metrics.close()

    def _read_deployment(self) -> Deployment:
        return self.workspace.store.deployments.get(self.deployment)

    async def _watch(self) -> None:
        revisions = self.workspace.store.deployments.revision
        while True:
            await asyncio.sleep(self.settings.watch_interval)
            self.metrics.refresh()
            try:
                revision = await self._in_thread(revisions, self.deployment)
                if self.table is None or revision != self.table.revision:
                    await self._apply(await self._in_thread(self._read_deployment))
            except asyncio.CancelledError:
                raise
            except Exception:  # keep serving the current table; try again next tick
                log.exception("could not apply a change of deployment %s", self.deployment)

    async def _apply(self, deployment: Deployment) -> None:
        for route in deployment.routes:
            if route.uri not in self._models:
                self._models[route.uri] = await self._in_thread(self._load, route.uri)
        self.table = build_table(deployment, self._models)
        wanted = {route.uri for route in deployment.routes}
        for uri in list(self._models):  # requests in flight hold their own references
            if uri not in wanted:
                del self._models[uri]
                self._batchers.pop(uri, None)
        log.info("deployment %s: serving revision %s", self.deployment, deployment.revision)

    def _load(self, uri: str) -> LoadedModel:
        return load(uri, trust=self.settings.trust, workspace=self.workspace)

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    # -- predictions ------------------------------------------------------------------------
    def overloaded(self) -> bool:
        return self.waiting >= self.settings.max_queue

    async def predict(self, served: Served, frame: pd.DataFrame) -> Any:
        """The model's output for a prepared frame, within the request timeout (which
        includes the wait for a free model slot or for the batch to close)."""
        if self.settings.batch_max_rows > 1:
            call = self._batcher(served).predict(frame)
        else:
            call = self._slotted(served.model, frame)
        async with asyncio.timeout(self.settings.request_timeout):  # no task per request
            return await call

    async def _slotted(self, model: LoadedModel, frame: pd.DataFrame) -> Any:
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            return await self._run(model, frame)
        finally:
            self._slots.release()

    async def _run(self, model: LoadedModel, frame: pd.DataFrame) -> Any:
        if self.saturated():  # queued behind stuck calls: refuse now, not at the timeout
            raise Saturated()
        self.metrics.batch_size.labels(model.version.name).observe(len(frame))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._call, model, frame)

    def _call(self, model: LoadedModel, frame: pd.DataFrame) -> Any:
        """In a worker: the model call, its start kept while it runs (one call per worker)."""
        worker = threading.get_ident()
        with self._started_lock:
            self._started[worker] = time.monotonic()
        try:
            return model.score(frame)
        finally:
            with self._started_lock:
                del self._started[worker]

    def _batcher(self, served: Served) -> MicroBatcher:
        uri = served.route.uri
        if uri not in self._batchers:
            self._batchers[uri] = MicroBatcher(
                lambda frame, model=served.model: self._run(model, frame),
                max_rows=self.settings.batch_max_rows,
                max_wait=self.settings.batch_max_wait,
            )
        return self._batchers[uri]
