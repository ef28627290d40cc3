"""The serving state of one process: loaded models, the routing table, and the watcher that
follows the deployment in the store.

Changes apply without dropping requests: the models of a new revision are loaded first (in a
thread), then the table is swapped in one assignment; requests in flight keep the table, and
so the model, they started with.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
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
        return self.table is not None and not self.draining

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

    def _read_deployment(self) -> Deployment:
        return self.workspace.store.deployments.get(self.deployment)

    async def _watch(self) -> None:
        revisions = self.workspace.store.deployments.revision
        while True:
            await asyncio.sleep(self.settings.watch_interval)
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
        self.metrics.batch_size.labels(model.version.name).observe(len(frame))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, model.score, frame)

    def _batcher(self, served: Served) -> MicroBatcher:
        uri = served.route.uri
        if uri not in self._batchers:
            self._batchers[uri] = MicroBatcher(
                lambda frame, model=served.model: self._run(model, frame),
                max_rows=self.settings.batch_max_rows,
                max_wait=self.settings.batch_max_wait,
            )
        return self._batchers[uri]
