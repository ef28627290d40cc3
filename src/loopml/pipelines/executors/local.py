"""In-process, in order: each task runs when it is first polled."""

from __future__ import annotations

import itertools
from typing import Any

from loopml.pipelines.executors.base import Executor
from loopml.pipelines.task import StepTask, TaskResult, execute


class LocalExecutor(Executor):
    name = "local"

    def __init__(self) -> None:
        self._queued: dict[int, StepTask] = {}
        self._ids = itertools.count()

    def submit(self, task: StepTask) -> Any:
        handle = next(self._ids)
        self._queued[handle] = task
        return handle

    def poll(self, handle: Any) -> TaskResult | None:
        task = self._queued.pop(handle, None)
        return None if task is None else execute(task)

    def cancel(self, handle: Any) -> None:
        self._queued.pop(handle, None)

    def wait(self, handles: Any, timeout: float) -> None:
        return  # polling runs the task: there is never anything to wait for
