"""`loopml.tune`: hyperparameter search with Optuna, each trial a child run of a tuning run.

@loopml.step
def score(C: float, kernel: str, folds: int) -> float:
    return cross_val_score(SVC(C=C, kernel=kernel), X, y, cv=folds).mean()

result = loopml.tune(score, {"C": ("log", 1e-3, 1e2), "kernel": ["linear", "rbf"]},
                     n_trials=40, inputs={"folds": 5}, executor="process", seed=0)
result.best_params, result.best_value, result.best_trial_run_id

Trials run through the executor seam (in this process, a process pool or Ray), up to
`parallelism` at a time; Optuna's TPE sampler proposes each next trial from the results told
so far. The tuning run records the best params as `best.<name>`, the metric `best_value` and
the tag `loopml.best_trial_run_id`.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from loopml.core.entities import RunStatus
from loopml.core.errors import InvalidArgumentError, LoopmlError
from loopml.core.pipelines import TAG_KIND, TAG_STEP
from loopml.pipelines.executors.base import Executor, using
from loopml.pipelines.step import Step
from loopml.pipelines.tune_space import Dimension, parse_space, to_optuna
from loopml.pipelines.tune_trials import TrialLoop, TuneTrial
from loopml.tracking.api import start_run
from loopml.tracking.run import ActiveRun
from loopml.workspace import Workspace

KIND_TUNE = "tune"
TAG_BEST_TRIAL = "loopml.best_trial_run_id"
DIRECTIONS = ("maximize", "minimize")

__all__ = ["TuneResult", "TuneTrial", "TuningError", "tune"]


class TuningError(LoopmlError):
    """No trial of a tuning run produced a value."""


@dataclasses.dataclass(frozen=True)
class TuneResult:
    run_id: str  # the tuning run; each trial is a child run of it
    best_params: dict[str, Any]
    best_value: float
    best_trial_run_id: str
    trials: list[TuneTrial]  # (number, params, value, status, run_id), by number


def tune(
    objective: Step | Callable[..., float],
    space: Mapping[str, Any],
    n_trials: int,
    *,
    direction: str = "maximize",
    executor: str | Executor = "local",
    inputs: Mapping[str, Any] | None = None,
    project: str | None = None,
    name: str | None = None,
    seed: int | None = None,
    workspace: Workspace | None = None,
    parallelism: int | None = None,
    timeout: float | None = None,
) -> TuneResult:
    """Search `space` for the params that maximize (or minimize) what `objective` returns.

    `space` maps each parameter of the objective to `(lo, hi)` (uniform float),
    `("int", lo, hi)`, `("log", lo, hi)` (log-uniform float) or a list of choices; `inputs`
    are fixed keyword arguments passed to every trial. A failing trial is recorded FAILED
    and the search goes on; `TuningError` is raised when no trial succeeds. `timeout`
    (seconds) stops asking for trials and cancels those still running.
    """
    step = objective if isinstance(objective, Step) else _as_step(objective)
    dimensions = parse_space(space)
    fixed = _check_call(step, dimensions, inputs)
    _check_numbers(n_trials, direction, parallelism, timeout)
    distributions = to_optuna(dimensions)  # imports Optuna: fails early when it is missing
    ws = workspace or Workspace.current(create=True)
    project = project or os.environ.get("LOOPML_PROJECT") or step.name
    tags = {TAG_KIND: KIND_TUNE, TAG_STEP: step.name}
    deadline = None if timeout is None else time.monotonic() + timeout
    with (
        using(executor, **_executor_options(executor, parallelism)) as engine,
        start_run(project, name or f"tune-{step.name}", tags, workspace=ws) as run,
    ):
        width = parallelism or _default_width(engine)
        settings = {"n_trials": n_trials, "direction": direction, "parallelism": width}
        run.log_params({**settings, **({} if seed is None else {"seed": seed})})
        run.log_params({f"space.{d.name}": d.describe() for d in dimensions})
        study = _study(direction, seed)
        loop = TrialLoop(ws, engine, step, run, study, distributions, fixed)
        trials = loop.run(n_trials, width, deadline)
        return _record_best(ws, run, study, trials)


def _as_step(objective: Any) -> Step:
    if not callable(objective):
        raise InvalidArgumentError(f"objective must be a @loopml.step or function: {objective!r}")
    return Step(objective)


def _check_call(
    step: Step, dimensions: tuple[Dimension, ...], inputs: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The fixed inputs, once the objective is known to take them plus the space's params."""
    fixed = dict(inputs or {})
    for key in fixed:
        if not isinstance(key, str) or not key.isidentifier():
            raise InvalidArgumentError(f"inputs: {key!r} is not a parameter name")
        if any(d.name == key for d in dimensions):
            raise InvalidArgumentError(f"space entry {key!r} is also given in inputs")
    if step.outputs.kind != "single":
        raise InvalidArgumentError(f"objective {step.name!r} must return one number")
    _check_parameters(step, [d.name for d in dimensions], list(fixed))
    return fixed


def _check_parameters(step: Step, tuned: list[str], fixed: list[str]) -> None:
    params = step.signature.parameters
    kinds = {p.kind for p in params.values()}
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        raise InvalidArgumentError(f"objective {step.name!r} must not take *args")
    takes_any = inspect.Parameter.VAR_KEYWORD in kinds
    for where, names in (("space entry", tuned), ("input", fixed)):
        for name in names:
            param = params.get(name)
            if param is None and not takes_any:
                raise InvalidArgumentError(
                    f"{where} {name!r} is not a parameter of objective {step.name!r}, "
                    f"which takes {list(params)}"
                )
            if param is not None and param.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise InvalidArgumentError(f"{where} {name!r} is a positional-only parameter")
    given = set(tuned) | set(fixed)
    for param in params.values():
        if param.default is param.empty and param.kind in _NAMED and param.name not in given:
            raise InvalidArgumentError(
                f"objective {step.name!r} needs {param.name!r}: tune it in the space "
                "or fix it in inputs"
            )


_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _check_numbers(
    n_trials: int, direction: str, parallelism: int | None, timeout: float | None
) -> None:
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidArgumentError(f"n_trials must be a positive integer, got {n_trials!r}")
    if direction not in DIRECTIONS:
        raise InvalidArgumentError(f"direction must be 'maximize' or 'minimize': {direction!r}")
    if parallelism is not None and (
        isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1
    ):
        raise InvalidArgumentError(f"parallelism must be a positive integer: {parallelism!r}")
    if timeout is not None and not timeout > 0:
        raise InvalidArgumentError(f"timeout must be a positive number of seconds: {timeout!r}")


def _executor_options(executor: str | Executor, parallelism: int | None) -> dict[str, Any]:
    if executor == "process" and parallelism is not None:
        return {"max_workers": parallelism}
    return {}


def _default_width(engine: Executor) -> int:
    if not engine.parallel:
        return 1
    return getattr(engine, "max_workers", None) or os.cpu_count() or 1


def _study(direction: str, seed: int | None) -> Any:
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
    try:
        sampler = optuna.samplers.TPESampler(seed=seed)
        return optuna.create_study(direction=direction, sampler=sampler)
    finally:
        optuna.logging.set_verbosity(level)


def _record_best(
    workspace: Workspace, run: ActiveRun, study: Any, trials: list[TuneTrial]
) -> TuneResult:
    finished = {
        t.number: t for t in trials if t.status is RunStatus.FINISHED and t.value is not None
    }
    if not finished:
        raise TuningError(_none_finished(workspace, trials))
    best = finished[study.best_trial.number]
    value = float(study.best_value)
    run.log_params({f"best.{k}": v for k, v in best.params.items()})
    run.log_metric("best_value", value)
    run.set_tag(TAG_BEST_TRIAL, best.run_id)
    return TuneResult(run.id, dict(best.params), value, best.run_id, trials)


def _none_finished(workspace: Workspace, trials: list[TuneTrial]) -> str:
    if not trials:
        return "no trial ran before the timeout"
    first = trials[0]
    error = workspace.store.runs.get(first.run_id).error or "no error recorded"
    return (
        f"all {len(trials)} trials failed; trial {first.number} (run {first.run_id}) "
        f"failed with:\n{error[-2000:]}"
    )
