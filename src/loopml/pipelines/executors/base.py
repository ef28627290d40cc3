"""The executor seam: submit a task, poll it for a result, cancel it."""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from loopml.core.entities import RunStatus
from loopml.core.errors import InvalidArgumentError
from loopml.pipelines.task import StepTask, TaskResult


def lost(task: StepTask, why: str) -> TaskResult:
    """The result of a task whose process died before it could record anything itself."""
    return TaskResult(RunStatus.FAILED, error=f"step {task.node!r}: {why}", lost=True)


class Executor(abc.ABC):
    name: str = ""
    parallel: bool = False  # whether independent steps may be submitted together

    @property
    def capacity(self) -> int:
        """How many tasks run at once; the orchestrator submits no more than that."""
        return 1

    @abc.abstractmethod
    def submit(self, task: StepTask) -> Any:
        """Start the task (or queue it); return a handle for `poll` and `cancel`."""

    @abc.abstractmethod
    def poll(self, handle: Any) -> TaskResult | None:
        """The task's result once it has one, else None. Never raises for a failed step."""

    @abc.abstractmethod
    def cancel(self, handle: Any) -> None:
        """Stop the task if it is queued or running; its run is recorded KILLED."""

    def wait(self, handles: Sequence[Any], timeout: float) -> None:
        """Block until one of `handles` may have finished, or `timeout` seconds."""
        time.sleep(min(timeout, 0.01))

    def close(self) -> None:  # noqa: B027 - most executors hold nothing to release
        """Release workers. Idempotent."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def using(executor: str | Executor, **options: Any) -> contextlib.AbstractContextManager[Executor]:
    """An executor for a `with` block: one named here is opened and closed by the block; an
    instance the caller passed in stays open for the caller to reuse."""
    if isinstance(executor, Executor):
        return contextlib.nullcontext(executor)
    return open_executor(executor, **options)


def open_executor(executor: str | Executor, **options: Any) -> Executor:
    if isinstance(executor, Executor):
        return executor
    if executor == "local":
        from loopml.pipelines.executors.local import LocalExecutor

        return LocalExecutor()
    if executor == "process":
        from loopml.pipelines.executors.process import ProcessExecutor

        return ProcessExecutor(**options)
    if executor == "ray":
        from loopml.pipelines.executors.ray import RayExecutor

        return RayExecutor(**options)
    raise InvalidArgumentError(f"unknown executor {executor!r}: use 'local', 'process' or 'ray'")
