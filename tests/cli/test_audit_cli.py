"""`loopml audit`, as a separate process over events written by real actions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.workspace import Workspace
from tests.cli.test_bad_input import _one_line_error
from tests.cli.test_cli import cli


@pytest.fixture
def audited(workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two versions, champion moved from 1 to 2 (by ann, then bob), a deployment (by carol)."""
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    for _ in range(2):
        loopml.registry.register("clf", model, input_example=x[:1], workspace=workspace)
    for user, version, reason in [("ann", 1, None), ("bob", 2, "better\non holdout")]:
        monkeypatch.setenv("LOOPML_USER", user)
        loopml.registry.set_alias("clf", "champion", version, reason, workspace=workspace)
        time.sleep(0.01)  # each event its own millisecond
    monkeypatch.setenv("LOOPML_USER", "carol")
    loopml.deployments.create("api", "clf@champion", reason="launch", workspace=workspace)
    return tmp_path


def audit_json(root: Path, *args: str) -> list[dict]:
    done = cli("audit", "--json", *args, cwd=root)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_table_lists_real_actions_newest_first(audited: Path) -> None:
    done = cli("audit", cwd=audited)
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if "┃" in line).split()
    assert header[1::2] == ["time", "actor", "action", "target", "details"]
    rows = [line for line in done.stdout.splitlines() if "│" in line]
    assert len(rows) == 3
    assert "carol" in rows[0] and "deployment.create" in rows[0] and "deployment:api" in rows[0]
    assert "reason=launch routes=[{" in rows[0]  # plain values before the long ones
    assert "bob" in rows[1] and "alias.set" in rows[1] and "model:clf" in rows[1]
    # the details in one line: a multi-line reason is joined
    assert "alias=champion from=1 to=2 reason=better on holdout" in rows[1]
    assert "ann" in rows[2] and "to=1" in rows[2]


def test_json_has_every_detail(audited: Path) -> None:
    events = audit_json(audited)
    assert [(e["actor"], e["action"], e["target"]) for e in events] == [
        ("carol", "deployment.create", "deployment:api"),
        ("bob", "alias.set", "model:clf"),
        ("ann", "alias.set", "model:clf"),
    ]  # fmt: skip
    assert events[1]["details"] == {
        "alias": "champion", "from": 1, "to": 2, "reason": "better\non holdout",
    }  # fmt: skip
    assert events[0]["details"]["reason"] == "launch"
    assert set(events[0]) == {"id", "time", "actor", "action", "target", "details"}


def test_filters(audited: Path) -> None:
    def actions(*args: str) -> list[tuple[str, str]]:
        return [(e["actor"], e["action"]) for e in audit_json(audited, *args)]

    assert actions("--action", "alias.") == [("bob", "alias.set"), ("ann", "alias.set")]
    assert actions("--action", "deployment") == [("carol", "deployment.create")]
    assert actions("--action", "alias.delete") == []
    assert actions("--target", "model:clf") == [("bob", "alias.set"), ("ann", "alias.set")]
    assert actions("--target", "model:cl") == []  # a target matches exactly
    assert actions("--actor", "bob") == [("bob", "alias.set")]
    assert actions("--actor", "ann", "--target", "deployment:api") == []
    assert actions("--limit", "1") == [("carol", "deployment.create")]
    bob = audit_json(audited, "--actor", "bob")[0]["time"]
    assert actions("--since", bob) == [("carol", "deployment.create"), ("bob", "alias.set")]
    assert actions("--since", "2999-01-01") == []
    assert len(actions("--since", "2000-01-01T00:00:00+02:00")) == 3
    done = cli("audit", "--actor", "nobody", cwd=audited)
    assert done.returncode == 0 and done.stdout.strip() == "no audit events match"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "yesterday"], "--since: 'yesterday' is not an ISO 8601 time"),
        (["--limit", "0"], "--limit must be at least 1, got 0"),
    ],
)
def test_bad_input_is_one_line(audited: Path, args: list[str], says: str) -> None:
    assert says in _one_line_error(cli("audit", *args, cwd=audited))


def test_outside_a_workspace_is_one_line(tmp_path: Path) -> None:
    assert "workspace" in _one_line_error(cli("audit", cwd=tmp_path)).lower()
