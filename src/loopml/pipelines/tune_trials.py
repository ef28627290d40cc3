"""The trial loop of `loopml.tune`: ask Optuna for trials, run each as a child run through an
executor, tell Optuna the results as they come, and keep up to `width` trials in flight.

Each trial is the objective step's function called with the trial's params (and the fixed
inputs) as a StepTask; the float it returns is its stored output, read back here, logged as
the metric `objective` on the trial run and told to Optuna. A trial that raises, returns no
finite number, or whose worker dies is told as FAIL and recorded FAILED; the loop goes on.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from loopml.artifacts import objects
from loopml.core.entities import Metric, Run, RunStatus
from loopml.core.errors import LoopmlError
from loopml.core.names import MAX_PARAM_VALUE_LENGTH
from loopml.core.pipelines import TAG_KIND, TAG_STEP
from loopml.pipelines.executors.base import Executor
from loopml.pipelines.orchestrator import is_scalar
from loopml.pipelines.step import SINGLE_OUTPUT, Step
from loopml.pipelines.task import StepTask, TaskResult
from loopml.tracking.run import ActiveRun
from loopml.workspace import Workspace

KIND_TRIAL = "trial"
TAG_TRIAL = "loopml.trial"
METRIC = "objective"
MAX_WAIT = 0.25
KILLED_BY_CANCEL = "cancelled: the tuning run was interrupted"
KILLED_BY_TIMEOUT = "cancelled: the tuning run reached its timeout"


class TuneTrial(NamedTuple):
    number: int
    params: dict[str, Any]
    value: float | None  # None unless the trial FINISHED
    status: RunStatus
    run_id: str


@dataclasses.dataclass
class _InFlight:
    trial: Any  # optuna.trial.Trial
    run_id: str
    handle: Any


class TrialLoop:
    def __init__(
        self,
        workspace: Workspace,
        executor: Executor,
        objective: Step,
        parent: ActiveRun,
        study: Any,
        distributions: Mapping[str, Any],
        fixed: Mapping[str, Any],
    ) -> None:
        self.workspace = workspace
        self.runs = workspace.store.runs
        self.executor = executor
        self.objective = objective
        self.parent = parent
        self.record: Run = parent.info
        self.study = study
        self.distributions = dict(distributions)
        self.fixed = dict(fixed)
        self.in_flight: list[_InFlight] = []
        self.told: list[TuneTrial] = []

    def run(self, n_trials: int, width: int, deadline: float | None) -> list[TuneTrial]:
        """Run up to `n_trials` trials, `width` at a time, until done or past `deadline`
        (a `time.monotonic()` value; trials still running then are cancelled)."""
        asked = 0
        try:
            while asked < n_trials or self.in_flight:
                if deadline is not None and time.monotonic() >= deadline:
                    self._cancel_all(KILLED_BY_TIMEOUT)
                    break
                for _ in range(min(width - len(self.in_flight), n_trials - asked)):
                    self._launch()
                    asked += 1
                self._collect(deadline)
        except BaseException:
            self._cancel_all(KILLED_BY_CANCEL)
            raise
        return sorted(self.told, key=lambda t: t.number)

    def _collect(self, deadline: float | None) -> None:
        polled = [(f, self.executor.poll(f.handle)) for f in self.in_flight]
        done = [(flight, result) for flight, result in polled if result is not None]
        for flight, result in done:
            self.in_flight.remove(flight)
            self._finish(flight, result)
        if not done and self.in_flight:
            wait = MAX_WAIT if deadline is None else min(MAX_WAIT, deadline - time.monotonic())
            self.executor.wait([f.handle for f in self.in_flight], max(0.0, wait))

    # -- one trial --------------------------------------------------------------------------
    def _launch(self) -> None:
        trial = self.study.ask(self.distributions)
        params = dict(trial.params)
        run_id = self._create_run(trial.number, params)
        task = StepTask(
            node=f"trial-{trial.number}",
            step=self.objective.name,
            fn=self.objective.fn,
            outputs=self.objective.outputs,
            config=self.workspace.config,
            run_id=run_id,
            project=self.record.project,
            literals={**self.fixed, **params},
            inputs={},
        )
        self.in_flight.append(_InFlight(trial, run_id, self.executor.submit(task)))

    def _create_run(self, number: int, params: Mapping[str, Any]) -> str:
        parent = self.record
        record = self.runs.create(
            parent.project,
            f"trial-{number}",
            tags={TAG_KIND: KIND_TRIAL, TAG_STEP: self.objective.name, TAG_TRIAL: str(number)},
            user=parent.user,
            parent_run_id=parent.id,
            code=parent.code,
            python_version=parent.python_version,
            env_digest=parent.env_digest,
        )
        logged = {**{k: v for k, v in self.fixed.items() if is_scalar(v)}, **params}
        self.runs.log_params(
            record.id, {k: str(v)[:MAX_PARAM_VALUE_LENGTH] for k, v in logged.items()}
        )
        return record.id

    def _finish(self, flight: _InFlight, result: TaskResult) -> None:
        value, status = None, result.status
        if status is RunStatus.FINISHED:
            value, error = self._value(flight.run_id, result)
            if value is None:
                status = RunStatus.FAILED
                self.runs.set_status(flight.run_id, status, error)
        elif result.lost:
            self.runs.set_status(flight.run_id, RunStatus.FAILED, result.error)
        if value is None:
            self._tell_failed(flight, status)
            return
        when = datetime.now(UTC)
        self.runs.log_metrics(flight.run_id, [Metric(METRIC, value, 0, when)])
        self.parent.log_metric(METRIC, value, step=flight.trial.number, timestamp=when)
        self.study.tell(flight.trial, value)
        self._record(flight, value, status)

    def _value(self, run_id: str, result: TaskResult) -> tuple[float | None, str | None]:
        """The objective's returned number, or None and why it is not one."""
        stored = result.outputs.get(SINGLE_OUTPUT)
        if stored is None:
            return None, f"objective {self.objective.name!r} stored no output"
        try:
            value = objects.load_value(
                self.workspace.artifacts,
                stored,
                what=f"objective value of trial run {run_id}",
                scratch=self.workspace.cache_dir / "outputs",
            )
        except LoopmlError as exc:
            return None, f"could not read the objective's value: {exc}"
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return None, (
                f"objective {self.objective.name!r} returned a {type(value).__name__} "
                f"({str(value)[:80]}); it must return a number"
            )
        if not math.isfinite(value):
            return None, f"objective {self.objective.name!r} returned {value}, not a finite number"
        return float(value), None

    def _tell_failed(self, flight: _InFlight, status: RunStatus) -> None:
        from optuna.trial import TrialState

        self.study.tell(flight.trial, state=TrialState.FAIL)
        self._record(flight, None, status)

    def _record(self, flight: _InFlight, value: float | None, status: RunStatus) -> None:
        trial = flight.trial
        self.told.append(TuneTrial(trial.number, dict(trial.params), value, status, flight.run_id))

    def _cancel_all(self, why: str) -> None:
        for flight in list(self.in_flight):
            self.executor.cancel(flight.handle)
            if self.runs.get(flight.run_id).status is RunStatus.RUNNING:
                self.runs.set_status(flight.run_id, RunStatus.KILLED, why)
            self._tell_failed(flight, RunStatus.KILLED)
        self.in_flight.clear()
