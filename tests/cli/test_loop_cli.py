"""`loopml loop once|status|history`, as separate processes over a real workspace, and the
one-line error an invalid loopml.yaml gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.automation.conftest import LoopWorld, make_frame
from tests.cli.test_cli import cli

POLICY = """\
policies:
  api:
    model: clf
    pipeline: train.py:training
    triggers:
      - schedule: "0 3 * * *"
      - new_data: tx
    gate:
      metric: accuracy
      data: {output: split.test, label: y}
    canary: {traffic: 0.2, min_requests: 20, min_labels: 20, max_latency_ratio: 50}
    cooldown: 0s
"""


@pytest.fixture
def world(tmp_path: Path) -> LoopWorld:
    world = LoopWorld(tmp_path)
    (tmp_path / "loopml.yaml").write_text(POLICY)
    return world


def loop(world: LoopWorld, *args: str) -> object:
    done = cli("loop", *args, cwd=world.root)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout) if "--json" in args else done.stdout


def test_once_status_and_history(world: LoopWorld) -> None:
    world.bootstrap()
    world.add_data(make_frame(800, shift=2.0, seed=7))
    [result] = loop(world, "once", "--trigger", "api", "--json")
    assert (result["deployment"], result["steps"], result["holder"]) == ("api", 3, None)
    assert result["state"]["phase"] == "canary" and result["state"]["candidate"] == "clf/2"

    [row] = loop(world, "status", "--json")
    assert (row["deployment"], row["phase"], row["cycle"]) == ("api", "canary", 1)
    assert row["trigger"] == "manual request" and row["candidate"] == "clf/2"
    assert row["last_event"]["phase"] == "canary"
    assert row["last_event"]["message"].startswith("gate passed clf/2")
    assert row["decision"]["passed"] is True and row["decision"]["metric"] == "accuracy"
    due = datetime.fromisoformat(row["next_scheduled_run"])
    now = datetime.now(UTC)
    assert now < due <= now + timedelta(days=1) and (due.hour, due.minute) == (3, 0)

    events = loop(world, "history", "--json")
    assert [e["phase"] for e in events] == ["training", "gating", "canary"]
    assert events[0]["message"] == "triggered by manual request"
    assert events[1]["message"] == "trained clf/2"

    world.ws.store.loops.acquire("api", "someone-else", ttl=60)
    assert "api: held by someone-else until" in loop(world, "once")


BROKEN = [  # (what to change in POLICY, into what, the line and key the error names)
    ("    cooldown: 0s\n", "    cooldown: 0s\n    retrain: always\n", 13, "policies.api.retrain"),
    ('"0 3 * * *"', '"0 25 * * *"', 6, "policies.api.triggers[0].schedule"),
    ("train.py:training", "train.py:nothing", 4, "policies.api.pipeline"),
    ("traffic: 0.2", "traffic: 1.5", 11, "policies.api.canary.traffic"),
]


@pytest.mark.parametrize(("old", "new", "line", "key"), BROKEN, ids=[b[3] for b in BROKEN])
def test_an_invalid_policy_file_fails_with_one_line(
    world: LoopWorld, old: str, new: str, line: int, key: str
) -> None:
    (world.root / "loopml.yaml").write_text(POLICY.replace(old, new))
    done = cli("loop", "once", cwd=world.root)
    assert done.returncode == 1 and done.stdout == ""
    [message] = done.stderr.strip().splitlines()
    assert message.startswith(f"error: {(world.root / 'loopml.yaml').resolve()}:{line}: {key}: ")
    assert world.ws.store.loops.list() == []
