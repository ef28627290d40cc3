"""Two controller processes started together on one deployment: the lease lets exactly one
act; the other says who holds it; one candidate version comes out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import loopml
from loopml.core.loops import Phase
from tests.automation.conftest import make_frame

SLOW_PIPELINE = textwrap.dedent(
    """
    import time
    from typing import Any

    import loopml


    @loopml.step
    def train(version: int, seconds: float) -> str:
        from sklearn.linear_model import LogisticRegression

        time.sleep(seconds)  # long enough for the other controller to find the lease taken
        frame = loopml.datasets.load("tx", version)
        model = LogisticRegression().fit(frame[["a", "b"]], frame["y"])
        accuracy = float(model.score(frame[["a", "b"]], frame["y"]))
        return loopml.registry.register("clf", model, input_example=frame[["a", "b"]].head(),
                                        metrics={"accuracy": accuracy}).uri


    @loopml.pipeline(project="loop")
    def training(seconds: float = 0.0):
        train(version=loopml.datasets.get("tx").version, seconds=seconds)
    """
)

POLICY = """\
policies:
  api:
    model: clf
    pipeline: slow.py:training
    params: {seconds: 3}
    gate: {metric: accuracy, data: {dataset: tx, label: y}}
    canary: {traffic: 0.2}
    cooldown: 0s
"""


def test_only_one_of_two_controllers_acts(world) -> None:
    world.bootstrap()
    world.add_data(make_frame(800, shift=2.0, seed=7))
    (world.root / "slow.py").write_text(SLOW_PIPELINE)
    (world.root / "loopml.yaml").write_text(POLICY)

    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    command = [sys.executable, "-m", "loopml", "loop", "once", "--trigger", "api", "--json"]
    both = [
        subprocess.Popen(command, cwd=world.root, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]  # fmt: skip
    outputs = {}
    for process in both:
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr + stdout
        [outputs[process.pid]] = json.loads(stdout)

    acted = [pid for pid, r in outputs.items() if r["holder"] is None]
    blocked = [pid for pid, r in outputs.items() if r["holder"] is not None]
    assert len(acted) == 1 and len(blocked) == 1, outputs
    winner, loser = outputs[acted[0]], outputs[blocked[0]]
    assert winner["steps"] == 3 and winner["state"]["phase"] == "canary"
    assert loser["steps"] == 0 and loser["lease_expires"]
    assert loser["holder"].split(":")[1] == str(acted[0])  # host:pid:nonce of the winner

    assert sorted(v.version for v in world.ws.store.models.list_versions("clf")) == [1, 2]
    state = world.ws.store.loops.get("api")
    assert (state.phase, state.cycle, state.candidate) == (Phase.CANARY, 1, "clf/2")
    assert [e.phase.value for e in world.ws.store.loops.events("api")] == [
        "training", "gating", "canary",
    ]  # fmt: skip
    deployment = loopml.deployments.get("api", workspace=world.ws)
    assert deployment.canary.uri == "clf/2" and deployment.primary.uri == "clf/1"
