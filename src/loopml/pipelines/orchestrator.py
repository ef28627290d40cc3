"""Runs a graph: starts each node once its inputs exist, from the cache when it can.

The orchestrator owns the records: it creates each step's child run (tags link it to the
pipeline run, the node and its cache key), hands the call to the executor, and records what
the executor could not (a worker that died, a retry, a step skipped after a failure).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from loopml.artifacts.objects import Stored
from loopml.core.entities import ArtifactRef, Run, RunInput, RunStatus
from loopml.core.names import MAX_PARAM_VALUE_LENGTH
from loopml.core.pipelines import (
    KIND_STEP,
    OUTPUT_PREFIX,
    TAG_ATTEMPT,
    TAG_CACHE_KEY,
    TAG_CACHED,
    TAG_CACHED_FROM,
    TAG_KIND,
    TAG_NODE,
    TAG_PIPELINE,
    TAG_STEP,
    StepStatus,
)
from loopml.pipelines.cache import cache_key, code_digest
from loopml.pipelines.executors.base import Executor
from loopml.pipelines.graph import Graph, Node, OutputRef
from loopml.pipelines.step import Step
from loopml.pipelines.task import StepTask, TaskResult
from loopml.workspace import Workspace

KILLED_BY_CANCEL = "cancelled: the pipeline run was interrupted"
MAX_WAIT = 0.25


@dataclasses.dataclass
class StepState:
    node: Node
    status: StepStatus = StepStatus.PENDING
    cached: bool = False
    run_id: str | None = None
    cache_key: str | None = None
    outputs: dict[str, Stored] = dataclasses.field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    start: datetime | None = None
    end: datetime | None = None
    handle: Any = None
    retry_at: float | None = None


class Orchestrator:
    def __init__(
        self,
        workspace: Workspace,
        graph: Graph,
        executor: Executor,
        *,
        pipeline: str,
        parent: Run,
        cache: bool = True,
        on_change: Callable[[StepState], None] | None = None,
    ) -> None:
        self.workspace = workspace
        self.runs = workspace.store.runs
        self.graph = graph
        self.executor = executor
        self.pipeline = pipeline
        self.parent = parent
        self.cache = cache
        self.on_change = on_change or (lambda state: None)
        self.states = {node.name: StepState(node) for node in graph.nodes}
        self._code: dict[int, str] = {}

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> dict[str, StepState]:
        try:
            while self._start_ready():
                running = [s for s in self.states.values() if s.handle is not None]
                done = [(s, r) for s in running if (r := self.executor.poll(s.handle))]
                for state, result in done:
                    self._finish(state, result)
                if not done and running:
                    self.executor.wait([s.handle for s in running], self._wait_time())
                elif not running:
                    time.sleep(self._wait_time())  # only retries are waiting
        except BaseException:
            self._cancel_running()
            raise
        return self.states

    def _start_ready(self) -> bool:
        """Start what can start; False once nothing runs or waits any more."""
        busy = False
        for state in self.states.values():
            if state.status is not StepStatus.PENDING:
                busy |= state.status is StepStatus.RUNNING
                continue
            upstream = [self.states[name].status for name in state.node.upstream]
            if any(s in _STOPPED for s in upstream):  # independent branches go on
                self._set(state, StepStatus.SKIPPED)
            elif all(s is StepStatus.FINISHED for s in upstream):
                if state.retry_at is None or state.retry_at <= time.monotonic():
                    self._start(state)
                busy |= state.status in (StepStatus.RUNNING, StepStatus.PENDING)
            else:
                busy = True
        return busy

    def _wait_time(self) -> float:
        retries = [s.retry_at for s in self.states.values() if s.retry_at is not None]
        if not retries:
            return MAX_WAIT
        return max(0.0, min(MAX_WAIT, min(retries) - time.monotonic()))

    # -- starting a node --------------------------------------------------------------------
    def _start(self, state: StepState) -> None:
        node = state.node
        inputs = {param: self._stored(refs) for param, refs in node.inputs.items()}
        if state.cache_key is None:  # first time ready: look in the cache once
            state.cache_key = cache_key(
                node.step.name,
                self._code_digest(node.step),
                node.literal_digests,
                {p: _digests(stored) for p, stored in inputs.items()},
                node.step.outputs.names,
            )
            if self.cache and node.step.cache:
                hit = self._lookup(state.cache_key, node.step)
                if hit is not None:
                    self._record_hit(state, inputs, *hit)
                    return
        # Submit no more than the executor runs at once: a queued step's run would show
        # queue time as run time and send no heartbeat while it waits.
        running = sum(1 for s in self.states.values() if s.handle is not None)
        if running < self.executor.capacity:
            self._launch(state, inputs)

    def _stored(self, refs: OutputRef | tuple[OutputRef, ...]) -> Stored | tuple[Stored, ...]:
        if isinstance(refs, tuple):
            return tuple(self.states[r.node].outputs[r.output] for r in refs)
        return self.states[refs.node].outputs[refs.output]

    def _code_digest(self, step: Step) -> str:
        if id(step) not in self._code:
            self._code[id(step)] = code_digest(step.fn)
        return self._code[id(step)]

    def _lookup(self, key: str, step: Step) -> tuple[str, dict[str, ArtifactRef]] | None:
        """A finished run with this cache key whose outputs are all still stored (one read
        of the store for the newest few, with their outputs)."""
        found = self.runs.finished_with_tag(TAG_CACHE_KEY, key, prefix=OUTPUT_PREFIX, limit=5)
        cas = self.workspace.artifacts
        wanted = step.outputs.names
        for run_id, artifacts in found:
            refs = {a.name.removeprefix(OUTPUT_PREFIX): a for a in artifacts}
            if all(n in refs and cas.has(refs[n].digest) for n in wanted):
                return run_id, {n: refs[n] for n in wanted}
        return None

    def _create_run(
        self,
        state: StepState,
        inputs: Mapping[str, Any],
        tags: dict[str, str],
        *,
        artifacts: tuple[ArtifactRef, ...] = (),
        status: RunStatus = RunStatus.RUNNING,
    ) -> str:
        """The step's run with its tags, params and inputs (and, for a cache hit, its
        outputs and FINISHED status): one write."""
        node = state.node
        record = self.runs.create(
            self.parent.project,
            node.name,
            tags={
                TAG_KIND: KIND_STEP,
                TAG_PIPELINE: self.pipeline,
                TAG_NODE: node.name,
                TAG_STEP: node.step.name,
                TAG_CACHE_KEY: state.cache_key or "",
                **tags,
            },
            user=self.parent.user,
            parent_run_id=self.parent.id,
            code=self.parent.code,
            python_version=self.parent.python_version,
            env_digest=self.parent.env_digest,
            params={k: _param_text(v) for k, v in node.literals.items() if is_scalar(v)},
            inputs=self._run_inputs(node, inputs),
            artifacts=artifacts,
            status=status,
        )
        return record.id

    def _run_inputs(self, node: Node, inputs: Mapping[str, Any]) -> list[RunInput]:
        """Inputs as (artifact, parameter, producing run, digest): lineage by digest."""
        records = []
        for param, refs in node.inputs.items():
            pairs = (
                zip(refs, inputs[param], strict=True)
                if isinstance(refs, tuple)
                else [(refs, inputs[param])]
            )
            for i, (ref, stored) in enumerate(pairs):
                name = f"{param}[{i}]" if isinstance(refs, tuple) else param
                producer = self.states[ref.node].run_id or ""
                records.append(RunInput("artifact", name, producer, stored.digest))
        return records

    def _record_hit(
        self, state: StepState, inputs: Mapping[str, Any], source: str, refs: dict[str, ArtifactRef]
    ) -> None:
        state.start = datetime.now(UTC)
        state.run_id = self._create_run(
            state,
            inputs,
            {TAG_CACHED: "true", TAG_CACHED_FROM: source},
            artifacts=tuple(
                dataclasses.replace(ref, name=OUTPUT_PREFIX + name) for name, ref in refs.items()
            ),
            status=RunStatus.FINISHED,
        )
        state.outputs = {n: Stored(r.digest, r.serializer, r.size) for n, r in refs.items()}
        state.cached = True
        state.end = datetime.now(UTC)
        self._set(state, StepStatus.FINISHED)

    def _launch(self, state: StepState, inputs: Mapping[str, Any]) -> None:
        node = state.node
        state.attempts += 1
        state.retry_at = None
        state.start = datetime.now(UTC)
        extra = {TAG_CACHED: "false", TAG_ATTEMPT: str(state.attempts)}
        state.run_id = self._create_run(state, inputs, extra)
        task = StepTask(
            node=node.name,
            step=node.step.name,
            fn=node.step.fn,
            outputs=node.step.outputs,
            config=self.workspace.config,
            run_id=state.run_id,
            project=self.parent.project,
            literals=dict(node.literals),
            inputs=inputs,
        )
        state.handle = self.executor.submit(task)
        self._set(state, StepStatus.RUNNING)

    # -- results ----------------------------------------------------------------------------
    def _finish(self, state: StepState, result: TaskResult) -> None:
        state.handle = None
        state.end = datetime.now(UTC)
        if result.status is RunStatus.FINISHED:
            state.outputs = dict(result.outputs)
            self._set(state, StepStatus.FINISHED)
            return
        if result.lost and state.run_id:
            self.runs.set_status(state.run_id, RunStatus.FAILED, result.error)
        state.error = result.error
        step = state.node.step
        if result.status is RunStatus.FAILED and state.attempts <= step.retries:
            delay = step.retry_delay * 2 ** (state.attempts - 1)
            state.retry_at = time.monotonic() + delay
            self._set(state, StepStatus.PENDING)
            return
        self._set(state, StepStatus(result.status.value))

    def _cancel_running(self) -> None:
        for state in self.states.values():
            if state.handle is not None:
                self.executor.cancel(state.handle)
                state.handle = None
            elif not self._launching(state):
                continue
            if state.run_id and self.runs.get(state.run_id).status is RunStatus.RUNNING:
                self.runs.set_status(state.run_id, RunStatus.KILLED, KILLED_BY_CANCEL)
            state.error = KILLED_BY_CANCEL
            self._set(state, StepStatus.KILLED)
        for state in self.states.values():
            if state.status is StepStatus.PENDING:
                self._set(state, StepStatus.SKIPPED)

    def _launching(self, state: StepState) -> bool:
        """A signal can land between creating a step's run and `submit` returning: that step
        has a RUNNING run but no handle yet, and must be recorded KILLED too."""
        if state.status is not StepStatus.PENDING or not state.run_id:
            return False
        return self.runs.get(state.run_id).status is RunStatus.RUNNING

    def _set(self, state: StepState, status: StepStatus) -> None:
        state.status = status
        self.on_change(state)


_STOPPED = (StepStatus.FAILED, StepStatus.KILLED, StepStatus.SKIPPED)


def _digests(stored: Stored | tuple[Stored, ...]) -> str | tuple[str, ...]:
    return tuple(s.digest for s in stored) if isinstance(stored, tuple) else stored.digest


def is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _param_text(value: Any) -> str:
    return str(value)[:MAX_PARAM_VALUE_LENGTH]
