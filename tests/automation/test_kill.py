"""A controller killed (SIGKILL) at any point of a cycle, then restarted, resumes correctly: one
promotion, one candidate version, the champion and the deployment where they belong."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import loopml
from loopml.automation.controller import Controller
from loopml.core.loops import Phase
from loopml.core.serving import RouteMode
from tests.automation.conftest import make_frame

REPO = Path(__file__).resolve().parents[2]
LIVE = make_frame(200, shift=2.0, seed=8)  # traffic after the drift: the candidate does better

# Killed by its own observer at (kind, phase). Had it lived, it would have served the canary's
# traffic once the canary was saved and promoted it in the same pass.
SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    from loopml.automation.controller import Controller
    from loopml.core.serving import RouteMode
    from loopml.workspace import Workspace
    from tests.automation.conftest import LoopWorld, make_frame

    KIND, PHASE = sys.argv[1], sys.argv[2]
    ws = Workspace.current()
    world = LoopWorld.__new__(LoopWorld)  # only its serve(), on this workspace
    world.root, world.ws = Path.cwd(), ws

    def observer(kind, state):
        if (kind, state.phase.value) == (KIND, PHASE):
            os.kill(os.getpid(), signal.SIGKILL)
        if (kind, state.phase.value) == ("saved", "canary"):
            live = make_frame(200, shift=2.0, seed=8)
            world.serve(1, RouteMode.PRIMARY, live)
            world.serve(2, RouteMode.CANARY, live.iloc[:50])

    Controller(ws, holder="doomed", lease_ttl=1.0, observer=observer).run_once(manual=["api"])
    sys.exit(3)  # not killed: the kill point was never reached
    """
)

KILL_POINTS = [
    ("saved", "training"),  # the cycle started; the pipeline has not run
    ("acted", "gating"),  # the pipeline registered clf/2; `gating` is not saved
    ("acting", "gating"),  # `gating` is saved; the gate has not run
    ("acted", "canary"),  # the canary route is set; `canary` is not saved
    ("saved", "canary"),  # the canary is saved; no traffic yet
    ("acted", "promoted"),  # clf/2 is promoted; `promoted` is not saved
]


def kill_at(world, kind: str, phase: str) -> subprocess.CompletedProcess[str]:
    script = world.root / "doomed_controller.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(script), kind, phase], cwd=world.root, env=env,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def settle(ctl: Controller, world, *, serve_canary: bool) -> Phase:
    """Passes until the loop settles, waiting (bounded) for the dead holder's lease to expire."""
    deadline = time.monotonic() + 60
    served = not serve_canary
    for _ in range(200):
        assert time.monotonic() < deadline, "the loop did not settle in 60 s"
        result = ctl.run_once()[0]
        if result.blocked:
            assert result.holder == "doomed"
            time.sleep(0.2)
            continue
        phase = result.state.phase
        if phase.settled and phase is not Phase.IDLE:
            return phase
        if phase is Phase.CANARY and not served:
            world.serve(1, RouteMode.PRIMARY, LIVE)
            world.serve(2, RouteMode.CANARY, LIVE.iloc[:50])
            served = True
    raise AssertionError("the loop did not settle in 200 passes")


@pytest.mark.parametrize(("kind", "phase"), KILL_POINTS, ids=[f"{k}-{p}" for k, p in KILL_POINTS])
def test_a_controller_killed_anywhere_resumes(world, kind: str, phase: str) -> None:
    world.bootstrap()
    world.add_data(make_frame(800, shift=2.0, seed=7))
    killed = kill_at(world, kind, phase)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert world.ws.store.loops.get("api").phase is not Phase.PROMOTED

    ctl = Controller(world.ws, holder="resumer")
    assert settle(ctl, world, serve_canary=phase != "promoted") is Phase.PROMOTED

    assert loopml.registry.get_alias("clf", "champion", workspace=world.ws).version == 2
    deployment = loopml.deployments.get("api", workspace=world.ws)
    assert deployment.primary.uri == "clf/2" and deployment.canary is None
    assert sorted(v.version for v in world.ws.store.models.list_versions("clf")) == [1, 2]
    timeline = [e.phase.value for e in world.ws.store.loops.events("api")]
    assert timeline == ["training", "gating", "canary", "promoted"]
    assert world.ws.store.loops.get("api").candidate == "clf/2"
    assert len(world.ws.store.audit.events(action="loop.promote")) == 1  # announced once


def test_a_restart_keeps_a_promotion_that_was_not_saved(world) -> None:
    """Judging again after the promotion would compare the canary with the new primary (the
    candidate itself, now perfect on its labels) and roll back a model that serves everything."""
    world.bootstrap()
    path = world.root / "loopml.yaml"
    path.write_text(path.read_text().replace("max_metric_drop: 0.05", "max_metric_drop: 0.0"))
    world.add_data(make_frame(800, shift=2.0, seed=7))
    assert kill_at(world, "acted", "promoted").returncode == -signal.SIGKILL
    model = loopml.registry.load("clf/2", workspace=world.ws)
    later = make_frame(100, shift=2.0, seed=11)
    world.serve(2, RouteMode.PRIMARY, later.assign(y=model.predict(later[["a", "b"]])))

    ctl = Controller(world.ws, holder="resumer")
    assert settle(ctl, world, serve_canary=False) is Phase.PROMOTED
    assert loopml.registry.get_version("clf", 2, workspace=world.ws).tags["loopml.gate"] == (
        "promoted"
    )
    assert not world.ws.store.audit.events(action="loop.rollback")


class Crash(BaseException):
    """Stops the controller where it stands, as a kill would (no `except Exception` sees it)."""


def test_a_restart_keeps_a_rollback_that_was_not_saved(world) -> None:
    """The canary was too slow and its route is gone; then the primary got slow too. Judging
    again would find the canary fine and promote the model that was rolled back."""
    world.bootstrap()
    world.add_data(make_frame(800, shift=2.0, seed=7))

    def crash(kind: str, state) -> None:
        if (kind, state.phase) == ("acted", Phase.ROLLED_BACK):
            raise Crash

    ctl = Controller(world.ws, holder="doomed", observer=crash)
    assert ctl.run_once(manual=["api"])[0].state.phase is Phase.CANARY
    world.serve(1, RouteMode.PRIMARY, LIVE)
    world.serve(2, RouteMode.CANARY, LIVE.iloc[:50], latency_ms=200.0)
    with pytest.raises(Crash):
        ctl.run_once()
    assert loopml.deployments.get("api", workspace=world.ws).canary is None
    world.serve(1, RouteMode.PRIMARY, LIVE, latency_ms=400.0)

    final = Controller(world.ws, holder="resumer").run_once()[0].state
    assert final.phase is Phase.ROLLED_BACK
    assert loopml.registry.get_alias("clf", "champion", workspace=world.ws).version == 1
    assert loopml.deployments.get("api", workspace=world.ws).primary.uri == "clf/1"
    assert not world.ws.store.audit.events(action="loop.promote")
