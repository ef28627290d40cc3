"""`loopml.tune`: Optuna trials as child runs, in this process and on a process pool."""

from __future__ import annotations

import math
import os
import time
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.core.entities import RunStatus
from loopml.core.errors import InvalidArgumentError
from loopml.pipelines.tune import TuneResult, TuningError, tune
from loopml.workspace import Workspace

RENDEZVOUS_POLLS = 12_000  # x 0.01 s: a safety bound, never reached when two workers run


@loopml.step
def quadratic(x: float) -> float:
    return -((x - 2) ** 2)


@loopml.step
def scaled(x: float, scale: float, offset: int = 0) -> float:
    return scale * x + offset


@loopml.step
def fails_above_zero(x: float) -> float:
    if x > 0:
        raise ValueError(f"x={x} is out of bounds")
    return x


@loopml.step
def always_fails(x: float) -> float:
    raise RuntimeError("the objective broke")


@loopml.step
def returns_text(x: float) -> float:
    return "not a number"  # type: ignore[return-value]


@loopml.step
def rendezvous(x: float, folder: str) -> float:
    """Returns once a second trial has arrived: with one worker the first trial never would."""
    here = Path(folder)
    (here / str(os.getpid())).touch()
    for _ in range(RENDEZVOUS_POLLS):
        if len(list(here.iterdir())) >= 2:
            return x
        time.sleep(0.01)
    raise RuntimeError("no other trial ran at the same time")


@loopml.step
def blocks(x: float) -> float:
    for _ in range(RENDEZVOUS_POLLS):  # until cancelled
        time.sleep(0.01)
    return x


def _children(workspace: Workspace, result: TuneResult) -> dict[str, Any]:
    runs = workspace.store.runs.search(filter=f"parent_run_id = '{result.run_id}'", limit=1000)
    return {run.id: run for run in runs}


def test_quadratic_local_finds_the_maximum(workspace: Workspace) -> None:
    result = tune(quadratic, {"x": (-5.0, 5.0)}, 30, seed=0, workspace=workspace)
    assert abs(result.best_params["x"] - 2) < 0.5
    values = [t.value for t in result.trials if t.value is not None]
    assert len(result.trials) == 30 and len(values) == 30
    assert result.best_value == max(values) == quadratic.fn(result.best_params["x"])
    assert [t.number for t in result.trials] == list(range(30))


def test_trials_are_child_runs_with_params_and_metric(workspace: Workspace) -> None:
    result = tune(scaled, {"x": ("int", 1, 5)}, 5, inputs={"scale": 2.0}, workspace=workspace)
    children = _children(workspace, result)
    assert set(children) == {t.run_id for t in result.trials}
    for trial in result.trials:
        run = children[trial.run_id]
        assert run.status is RunStatus.FINISHED and trial.status is RunStatus.FINISHED
        assert run.name == f"trial-{trial.number}"
        assert run.tags["loopml.kind"] == "trial"
        assert run.tags["loopml.trial"] == str(trial.number)
        assert run.params == {"x": str(trial.params["x"]), "scale": "2.0"}
        assert isinstance(trial.params["x"], int)
        assert run.metrics["objective"] == trial.value == 2.0 * trial.params["x"]
        assert loopml.load_artifact(trial.run_id, "outputs/output") == trial.value


def test_best_params_recorded_on_the_tuning_run(workspace: Workspace) -> None:
    result = tune(
        scaled,
        {"x": (0.0, 1.0), "offset": [0, 3, -2]},
        12,
        inputs={"scale": -1.0},
        direction="minimize",
        seed=3,
        project="tuning",
        name="min-scaled",
        workspace=workspace,
    )
    parent = workspace.store.runs.get(result.run_id)
    assert (parent.project, parent.name, parent.status) == ("tuning", "min-scaled", "FINISHED")
    assert parent.tags["loopml.kind"] == "tune"
    assert parent.tags["loopml.best_trial_run_id"] == result.best_trial_run_id
    assert parent.params["best.x"] == str(result.best_params["x"])
    assert parent.params["best.offset"] == str(result.best_params["offset"])
    assert parent.params["direction"] == "minimize" and parent.params["n_trials"] == "12"
    assert parent.metrics["best_value"] == result.best_value
    assert result.best_value == min(t.value for t in result.trials if t.value is not None)
    best = workspace.store.runs.get(result.best_trial_run_id)
    assert best.metrics["objective"] == result.best_value
    history = loopml.get_metric_history(result.run_id, "objective")
    assert sorted(m.step for m in history) == list(range(12))


@pytest.mark.slow
def test_process_trials_run_in_parallel(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "arrivals"
    folder.mkdir()
    result = tune(
        rendezvous,
        {"x": (0.0, 1.0)},
        6,
        inputs={"folder": str(folder)},
        executor="process",
        parallelism=2,
        seed=1,
        workspace=workspace,
    )
    assert [t.status for t in result.trials] == [RunStatus.FINISHED] * 6
    assert len(list(folder.iterdir())) >= 2  # two worker processes took trials
    runs = list(_children(workspace, result).values())
    assert len(runs) == 6
    overlapping = [
        (a, b)
        for a, b in combinations(runs, 2)
        if a.start_time < b.end_time and b.start_time < a.end_time
    ]
    assert overlapping


def test_a_failing_trial_does_not_stop_the_tuning(workspace: Workspace) -> None:
    result = tune(fails_above_zero, {"x": (-1.0, 1.0)}, 12, seed=0, workspace=workspace)
    assert len(result.trials) == 12
    failed = [t for t in result.trials if t.status is RunStatus.FAILED]
    finished = [t for t in result.trials if t.status is RunStatus.FINISHED]
    assert failed and finished
    assert all(t.value is None and t.params["x"] > 0 for t in failed)
    run = workspace.store.runs.get(failed[0].run_id)
    assert run.status is RunStatus.FAILED and "out of bounds" in run.error
    assert "objective" not in run.metrics
    assert result.best_params["x"] <= 0
    assert workspace.store.runs.get(result.run_id).status is RunStatus.FINISHED


def test_a_non_number_result_fails_its_trial(workspace: Workspace) -> None:
    with pytest.raises(TuningError, match="must return a number"):
        tune(returns_text, {"x": (0.0, 1.0)}, 2, workspace=workspace)


def test_all_trials_failing_is_an_error(workspace: Workspace) -> None:
    with pytest.raises(TuningError, match="all 3 trials failed") as caught:
        tune(always_fails, {"x": (0.0, 1.0)}, 3, workspace=workspace, name="broken")
    assert "the objective broke" in str(caught.value)
    (parent,) = workspace.store.runs.search(filter="name = 'broken'")
    assert parent.status is RunStatus.FAILED
    trials = workspace.store.runs.search(filter=f"parent_run_id = '{parent.id}'")
    assert [t.status for t in trials] == [RunStatus.FAILED] * 3


@pytest.mark.slow
def test_timeout_cancels_running_process_trials(workspace: Workspace) -> None:
    with pytest.raises(TuningError, match="all 2 trials failed"):
        tune(
            blocks,
            {"x": (0.0, 1.0)},
            10,
            executor="process",
            parallelism=2,
            timeout=1.0,
            name="slow",
            workspace=workspace,
        )
    (parent,) = workspace.store.runs.search(filter="name = 'slow'")
    trials = workspace.store.runs.search(filter=f"parent_run_id = '{parent.id}'")
    assert [t.status for t in trials] == [RunStatus.KILLED] * 2


def test_timeout_stops_asking_for_trials(workspace: Workspace) -> None:
    result = tune(
        scaled,
        {"x": (0.0, 1.0)},
        1_000_000,
        inputs={"scale": 1.0},
        timeout=0.5,
        workspace=workspace,
    )
    assert 1 <= len(result.trials) < 1_000_000
    assert all(t.status is RunStatus.FINISHED for t in result.trials)


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ((1.0,), "is not a spec"),
        ((1.0, 2.0, 3.0), "is not a spec"),
        ("uniform", "is not a spec"),
        ({"low": 0}, "is not a spec"),
        ((5.0, 1.0), "must be below"),
        ((1.0, 1.0), "must be below"),
        ((0.0, math.inf), "not finite"),
        (("int", 1.5, 3), "must be integers"),
        (("log", 0.0, 1.0), "above 0"),
        (("float", "a", 1.0), "must be numbers"),
        ((True, 2.0), "must be numbers"),
        ([], "1 to"),
        ([object()], "choices must be"),
        (["a", "a"], "repeat"),
    ],
)
def test_bad_space_specs_name_the_entry(workspace: Workspace, spec: Any, complaint: str) -> None:
    with pytest.raises(InvalidArgumentError, match=complaint) as caught:
        tune(quadratic, {"x": spec}, 3, workspace=workspace)
    assert "space entry 'x'" in str(caught.value)
    assert list(workspace.store.runs.search()) == []  # refused before anything ran


@pytest.mark.parametrize(
    ("objective", "space", "inputs", "complaint"),
    [
        (quadratic, {}, None, "space is empty"),
        (
            quadratic,
            {"y": (0.0, 1.0)},
            None,
            "space entry 'y' is not a parameter of objective 'quadratic'",
        ),
        (quadratic, {"bad name": (0.0, 1.0)}, None, "space entry 'bad name'"),
        (scaled, {"x": (0.0, 1.0)}, None, "objective 'scaled' needs 'scale'"),
        (scaled, {"x": (0.0, 1.0)}, {"scale": 1.0, "x": 2.0}, "space entry 'x' is also given"),
        (quadratic, {"x": (0.0, 1.0)}, {"z": 1}, "input 'z' is not a parameter"),
    ],
)
def test_space_and_inputs_must_fit_the_objective(
    workspace: Workspace, objective: Any, space: Any, inputs: Any, complaint: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=complaint):
        tune(objective, space, 3, inputs=inputs, workspace=workspace)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"n_trials": 0}, "n_trials"),
        ({"direction": "up"}, "direction"),
        ({"parallelism": 0}, "parallelism"),
        ({"timeout": -1.0}, "timeout"),
        ({"executor": "cluster"}, "unknown executor"),
    ],
)
def test_bad_options_are_refused(workspace: Workspace, options: Any, complaint: str) -> None:
    kwargs = {"n_trials": 3, **options}
    with pytest.raises(InvalidArgumentError, match=complaint):
        tune(quadratic, {"x": (0.0, 1.0)}, workspace=workspace, **kwargs)


def test_exported_from_loopml_with_a_plain_function(workspace: Workspace) -> None:
    def plain(x: int) -> float:
        return float(x)

    result = loopml.tune(plain, {"x": ("int", 0, 3)}, 8, seed=0, workspace=workspace)
    assert result.best_params == {"x": 3} and result.best_value == 3.0
