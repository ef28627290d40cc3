"""Triggers judge their own windows: a performance window counts labelled predictions (labels
come late), every trigger keeps its window after the first cycle, and the drift trigger's
minimum does not hold the others back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loopml.automation import triggers
from loopml.automation.controller import Controller
from loopml.core.loops import LoopState
from loopml.core.serving import RouteMode
from tests.automation.conftest import POLICY, make_frame

NOW = datetime.now(UTC) + timedelta(hours=1)


def _policy(world, triggers_yaml: str):
    text = POLICY.format(quality="good", fail="false", cooldown="0s", max_duration="1h")
    default = "      - new_data: tx\n      - drift: {window: 300, min_predictions: 100}\n"
    text = text.replace(default, triggers_yaml)
    (world.root / "loopml.yaml").write_text(text)
    return Controller(world.ws).policies["api"]


def test_performance_counts_labelled_predictions_when_labels_lag(world) -> None:
    world.bootstrap()
    policy = _policy(world, "      - performance: {metric: accuracy, below: 0.8, window: 200}\n")
    world.serve(1, RouteMode.PRIMARY, make_frame(300, shift=2.0, seed=5))  # old, labelled
    world.serve(1, RouteMode.PRIMARY, make_frame(600, seed=6), labels=False)  # newest: no labels
    fired = triggers.evaluate(world.ws, policy, LoopState("api"), NOW).fired
    assert fired is not None and fired.trigger.kind == "performance", fired
    assert fired.details["labels"] == 200 and fired.details["value"] < 0.8
    assert "newest 200 labelled" in fired.reason


def test_performance_waits_for_a_full_window_of_labels(world) -> None:
    world.bootstrap()
    policy = _policy(world, "      - performance: {metric: accuracy, below: 0.8, window: 200}\n")
    world.serve(1, RouteMode.PRIMARY, make_frame(150, shift=2.0, seed=5))
    world.serve(1, RouteMode.PRIMARY, make_frame(600, seed=6), labels=False)
    assert triggers.evaluate(world.ws, policy, LoopState("api"), NOW).fired is None


def test_a_trigger_keeps_its_window_after_a_cycle(world) -> None:
    world.bootstrap()
    policy = _policy(world, "      - drift: {window: 300, min_predictions: 100}\n")
    cycle = datetime.now(UTC) - timedelta(minutes=5)
    world.serve(1, RouteMode.PRIMARY, make_frame(2000, seed=7), labels=False)
    state = LoopState("api", cycle=1, cycle_time=cycle)
    report = triggers._drift_report(world.ws, policy, state, policy.triggers[0])
    assert report is not None and report.current_rows == 300
    assert "last 300 predictions" in report.current


def test_the_drift_minimum_does_not_hold_back_performance(world) -> None:
    world.bootstrap()
    drift = "      - drift: {window: 5000, min_predictions: 5000}\n"
    policy = _policy(
        world, drift + "      - performance: {metric: accuracy, below: 0.8, window: 100}\n"
    )
    world.serve(1, RouteMode.PRIMARY, make_frame(300, shift=2.0, seed=8))
    fired = triggers.evaluate(world.ws, policy, LoopState("api"), NOW).fired
    assert fired is not None and fired.trigger.kind == "performance"


def test_estimated_performance_fires_before_any_label_arrives(world) -> None:
    """Served probabilities near 0.5 on traffic far from the training data: the model itself
    says it is unsure, before a single label is back."""
    world.bootstrap()
    estimated = "      - estimated_performance: {metric: accuracy, below: 0.75, window: 300}\n"
    policy = _policy(world, estimated)
    world.serve(1, RouteMode.PRIMARY, make_frame(300, seed=9), labels=False)
    assert triggers.evaluate(world.ws, policy, LoopState("api"), NOW).fired is None
    unsure = make_frame(300, seed=10).assign(a=lambda f: f["a"] * 0.05, b=lambda f: f["b"] * 0.05)
    world.serve(1, RouteMode.PRIMARY, unsure, labels=False)
    fired = triggers.evaluate(world.ws, policy, LoopState("api"), NOW).fired
    assert fired is not None and fired.trigger.kind == "estimated_performance", fired
    assert fired.details["estimated"] < 0.75 and "no labels" in fired.reason


def test_cycles_that_change_nothing_back_off(world, controller) -> None:
    """Rejected again and again (the same bad training): each wait doubles, up to 8x."""
    world.bootstrap()
    world.policy(quality="bad", cooldown="10m")
    now = [datetime.now(UTC)]
    ctl = controller(clock=lambda: now[0])
    ctl.run_once()  # first sight of the dataset: the new_data trigger notes v1
    state = ctl.run_once(manual=["api"])[0].state
    assert state.phase.value == "rejected"
    waits = []
    for round_ in range(4):
        world.add_data(make_frame(800, seed=round_ + 20))  # new data: the trigger wants to fire
        cycle, waited = state.cycle, 0
        while state.cycle == cycle and waited < 200:
            now[0] += timedelta(minutes=5)
            waited += 5
            state = ctl.run_once()[0].state
        assert state.phase.value == "rejected"
        waits.append(waited)
    assert waits == [20, 40, 80, 80], waits  # cooldown 10m x 2, 4, 8, 8 (capped)


def test_old_failures_do_not_slow_the_answer_to_a_new_change(world, controller) -> None:
    """A rejection long ago (a quiet loop for more than twice the backed-off cooldown) is not
    'in a row' with the next one: the next cycle waits the plain cooldown."""
    world.bootstrap()
    world.policy(quality="bad", cooldown="10m")
    now = [datetime.now(UTC)]
    ctl = controller(clock=lambda: now[0])
    ctl.run_once()
    state = ctl.run_once(manual=["api"])[0].state
    now[0] += timedelta(hours=6)  # quiet for hours
    world.add_data(make_frame(800, seed=40))
    state = ctl.run_once()[0].state  # fires at once: the old rejection has aged out
    assert state.cycle == 2 and state.phase.value == "rejected"
    world.add_data(make_frame(800, seed=41))
    now[0] += timedelta(minutes=15)  # a second rejection in a row: 2 x cooldown = 20 min
    assert ctl.run_once()[0].state.cycle == 2
    now[0] += timedelta(minutes=6)
    assert ctl.run_once()[0].state.cycle == 3


def test_a_negative_margin_accepts_a_model_no_worse_than_it(tmp_path) -> None:
    (tmp_path / "train.py").write_text("training = None\n")
    (tmp_path / "loopml.yaml").write_text(
        "policies:\n  api:\n    model: m\n    pipeline: train.py:training\n"
        "    gate: {must_beat_by: -0.01}\n"
    )
    from loopml.core.project_config import load_project_config

    assert load_project_config(tmp_path).policies["api"].gate.must_beat_by == -0.01
