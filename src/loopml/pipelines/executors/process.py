"""Independent steps in parallel on a pool of worker processes (spawned, not forked: the
parent holds database connections and threads that a fork would copy half-alive)."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from loopml.pipelines.executors.base import Executor, lost
from loopml.pipelines.task import StepTask, TaskResult, execute_pickled, pickle_task


class ProcessExecutor(Executor):
    name = "process"
    parallel = True

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or os.cpu_count() or 1
        self._pool: cf.ProcessPoolExecutor | None = None
        self._tasks: dict[cf.Future[TaskResult], StepTask] = {}

    @property
    def capacity(self) -> int:
        return self.max_workers

    def _live_pool(self) -> cf.ProcessPoolExecutor:
        # A worker killed by a signal breaks the whole pool: start a new one for what follows.
        if self._pool is None or getattr(self._pool, "_broken", False):
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = cf.ProcessPoolExecutor(
                self.max_workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    def submit(self, task: StepTask) -> Any:
        future = self._live_pool().submit(execute_pickled, pickle_task(task))
        self._tasks[future] = task
        return future

    def poll(self, handle: Any) -> TaskResult | None:
        if not handle.done():
            return None
        task = self._tasks.pop(handle)
        if handle.cancelled():
            return lost(task, "cancelled before it started")
        error = handle.exception()
        if isinstance(error, BrokenProcessPool):
            return lost(task, "its worker process died (killed by a signal or out of memory)")
        if error is not None:
            return lost(task, f"its worker process failed: {error!r}")
        return handle.result()

    def cancel(self, handle: Any) -> None:
        if not handle.cancel() and not handle.done():
            self._terminate_workers()

    def _terminate_workers(self) -> None:
        # The pool has no per-task kill; SIGTERM every worker, whose runs then record KILLED.
        processes = getattr(self._pool, "_processes", None) or {}
        for process in list(processes.values()):
            if process.is_alive():
                process.terminate()

    def wait(self, handles: Sequence[Any], timeout: float) -> None:
        cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
