"""The controller's state machine on a real workspace: triggers, gate, canary, promotion,
rollback, rejection, failures and cooldown, leases."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

import loopml
from loopml.core.config_fields import ProjectConfigError
from loopml.core.loops import Phase
from loopml.core.serving import RouteMode
from tests.automation.conftest import make_frame

DRIFTED = dict(shift=2.0, seed=7)


def phases(world) -> list[str]:
    return [e.phase.value for e in world.ws.store.loops.events("api")]


def test_new_data_retrains_gates_canaries_and_promotes(world, controller) -> None:
    world.bootstrap()
    ctl = controller()
    assert ctl.run_once()[0].state.phase is Phase.IDLE  # first sight of tx v1: nothing to do
    world.add_data(make_frame(800, **DRIFTED))
    result = ctl.run_once()[0]
    assert result.state.phase is Phase.CANARY and result.steps == 3
    assert result.state.trigger == "new data: tx v2 (was v1)"
    assert result.state.candidate == "clf/2" and result.state.baseline == "clf/1"
    gate = result.state.decision
    assert gate["passed"] and gate["candidate"]["accuracy"] > gate["baseline"]["accuracy"]
    deployment = loopml.deployments.get("api", workspace=world.ws)
    assert (deployment.canary.uri, deployment.canary.weight) == ("clf/2", 0.2)

    assert ctl.run_once()[0].steps == 0  # no canary traffic yet: keep waiting
    live = make_frame(200, shift=2.0, seed=8)
    world.serve(1, RouteMode.PRIMARY, live)
    world.serve(2, RouteMode.CANARY, live.iloc[:50])
    final = ctl.run_once()[0].state
    assert final.phase is Phase.PROMOTED
    judged = final.decision["canary_judgement"]
    assert judged["canary"]["metric"] > judged["primary"]["metric"]
    assert judged["interval"]["low"] > -0.05  # surely no worse than the allowed drop
    events = world.ws.store.loops.events("api")
    assert "CI [" in events[-1].message and "CI [" in events[-2].message  # canary and gate
    assert promote_interval(world)["low"] == judged["interval"]["low"]
    assert loopml.registry.get_alias("clf", "champion", workspace=world.ws).version == 2
    deployment = loopml.deployments.get("api", workspace=world.ws)
    assert deployment.primary.uri == "clf/2" and deployment.canary is None
    promote = world.ws.store.audit.events(action="loop.promote")
    assert len(promote) == 1 and promote[0].details["model"] == "clf/2"
    assert phases(world) == ["training", "gating", "canary", "promoted"]


def test_gate_rejects_a_worse_candidate_and_keeps_it_registered(world, controller) -> None:
    world.bootstrap()
    world.policy(quality="bad")
    state = controller().run_once(manual=["api"])[0].state
    assert state.phase is Phase.REJECTED and state.trigger == "manual request"
    assert state.decision["passed"] is False and state.decision["reasons"]
    rejected = loopml.registry.get_version("clf", 2, workspace=world.ws)
    assert rejected.tags["loopml.gate"] == "rejected"
    assert "accuracy" in rejected.tags["loopml.gate.reasons"]
    assert loopml.registry.get_alias("clf", "champion", workspace=world.ws).version == 1
    assert loopml.deployments.get("api", workspace=world.ws).canary is None


def test_a_canary_that_does_worse_is_rolled_back(world, controller) -> None:
    world.bootstrap()
    world.add_data(make_frame(800, **DRIFTED))
    ctl = controller()
    assert ctl.run_once(manual=["api"])[0].state.phase is Phase.CANARY
    live = make_frame(100, shift=2.0, seed=9)
    world.serve(1, RouteMode.PRIMARY, live)
    wrong = live.assign(y=1 - live["y"])  # the world changed again: the canary is now wrong
    world.serve(1, RouteMode.PRIMARY, live)
    world.serve(2, RouteMode.CANARY, wrong.iloc[:40])
    state = ctl.run_once()[0].state
    assert state.phase is Phase.ROLLED_BACK
    assert "accuracy" in world.ws.store.loops.events("api")[-1].message
    assert loopml.deployments.get("api", workspace=world.ws).canary is None
    assert loopml.registry.get_alias("clf", "champion", workspace=world.ws).version == 1
    assert loopml.registry.get_version("clf", 2, workspace=world.ws).tags["loopml.gate"] == (
        "rolled_back"
    )
    assert world.ws.store.audit.events(action="loop.rollback")


def test_a_silent_canary_times_out_into_rollback(world, controller) -> None:
    world.bootstrap()
    world.add_data(make_frame(800, **DRIFTED))
    now = [datetime.now(UTC)]
    ctl = controller(clock=lambda: now[0])
    assert ctl.run_once(manual=["api"])[0].state.phase is Phase.CANARY
    now[0] += timedelta(minutes=59)
    assert ctl.run_once()[0].state.phase is Phase.CANARY  # the server is down: no data
    now[0] += timedelta(minutes=2)
    state = ctl.run_once()[0].state
    assert state.phase is Phase.ROLLED_BACK
    assert "max_duration" in world.ws.store.loops.events("api")[-1].message
    assert loopml.deployments.get("api", workspace=world.ws).canary is None


def test_failed_training_keeps_the_champion_and_retries_after_the_cooldown(
    world, controller
) -> None:
    world.bootstrap()
    world.policy(fail=True, cooldown="10m")
    now = [datetime.now(UTC)]
    ctl = controller(clock=lambda: now[0])
    failed = ctl.run_once(manual=["api"])[0].state
    assert failed.phase is Phase.FAILED and "the training data is unusable" in failed.error
    assert loopml.registry.get_alias("clf", "champion", workspace=world.ws).version == 1
    assert loopml.deployments.get("api", workspace=world.ws).routes[0].uri == "clf/1"
    now[0] += timedelta(minutes=5)
    assert ctl.run_once()[0].steps == 0  # still cooling down
    world.policy(fail=False, cooldown="10m")
    world.add_data(make_frame(800, **DRIFTED))  # a retrain worth a canary (not the champion)
    ctl = controller(clock=lambda: now[0])
    now[0] += timedelta(minutes=6)
    retried = ctl.run_once()[0].state
    assert retried.cycle == 2 and retried.trigger.startswith("retry after failure")
    assert retried.phase is Phase.CANARY


def test_drift_in_served_traffic_triggers_a_retrain(world, controller) -> None:
    world.bootstrap()
    ctl = controller()
    world.serve(1, RouteMode.PRIMARY, make_frame(150, seed=3), labels=False)
    assert ctl.run_once()[0].state.phase is Phase.IDLE  # same distribution: no drift
    world.add_data(make_frame(800, **DRIFTED))  # (new data also fires; drift must come first)
    world.ws.store.loops.save(dataclasses.replace(world.ws.store.loops.get("api"), cursors={
        **world.ws.store.loops.get("api").cursors, "new_data:tx": 2}))  # fmt: skip
    world.serve(1, RouteMode.PRIMARY, make_frame(300, shift=2.0, seed=4), labels=False)
    state = ctl.run_once()[0].state
    assert state.trigger.startswith("dataset drift") and state.phase is Phase.CANARY


def test_only_the_lease_holder_acts(world, controller) -> None:
    world.bootstrap()
    first, second = controller(holder="first"), controller(holder="second")
    world.ws.store.loops.acquire("api", "first", ttl=60)  # first is mid-pass
    blocked = second.run_once(manual=["api"])[0]
    assert blocked.blocked and blocked.holder == "first" and blocked.steps == 0
    assert world.ws.store.loops.get("api").phase is Phase.IDLE
    first.release()
    world.add_data(make_frame(800, **DRIFTED))  # a retrain worth a canary (not the champion)
    assert second.run_once(manual=["api"])[0].state.phase is Phase.CANARY


def test_an_invalid_policy_stops_the_controller_before_it_acts(world, controller) -> None:
    world.bootstrap()
    (world.root / "loopml.yaml").write_text(
        "policies:\n  api:\n    model: clf\n    pipeline: nowhere.py:training\n"
    )
    with pytest.raises(ProjectConfigError, match=r"loopml.yaml:4: policies.api.pipeline: unknown"):
        controller()
    assert world.ws.store.loops.list() == []


def test_a_retrain_that_reproduces_the_champion_settles_without_a_canary(world, controller):
    """Nothing changed since v1: the pipeline is served from the cache and names v1 itself."""
    world.bootstrap()
    state = controller().run_once(manual=["api"])[0].state
    assert state.phase is Phase.UNCHANGED and state.candidate == "clf/1", state
    assert state.baseline == "clf/1"
    assert loopml.deployments.get("api", workspace=world.ws).canary is None
    assert loopml.registry.get_alias("clf", "champion", workspace=world.ws).version == 1
    again = controller().run_once()[0].state  # settled: triggers are evaluated again
    assert again.phase is Phase.UNCHANGED and again.cycle == state.cycle


def promote_interval(world) -> dict:
    (event,) = world.ws.store.audit.events(action="loop.promote")
    return event.details["canary_judgement"]["interval"]
