"""`loopml runs delete|restore`, `runs ls --deleted`, `data rm`, `models rm`, `gc` and
`predictions forget`, as separate processes over a real workspace."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.core.serving import Label, Prediction, RouteMode
from loopml.workspace import Workspace
from tests.cli.test_cli import cli


def test_runs_delete_restore_and_show(workspace: Workspace, tmp_path: Path) -> None:
    with loopml.start_run(project="p", name="kept", description="the baseline") as kept:
        pass
    with loopml.start_run(project="p", name="gone") as gone:
        pass
    shown = cli("runs", "show", kept.id, cwd=tmp_path)
    assert shown.returncode == 0 and "the baseline" in shown.stdout
    deleted = cli("runs", "delete", gone.id[:8], cwd=tmp_path)
    assert deleted.returncode == 0, deleted.stderr
    assert f"loopml runs restore {gone.id}" in deleted.stdout
    listed = json.loads(cli("runs", "ls", "--json", cwd=tmp_path).stdout)
    assert [r["id"] for r in listed["runs"]] == [kept.id]
    trash = json.loads(cli("runs", "ls", "--deleted", "--json", cwd=tmp_path).stdout)
    assert [r["id"] for r in trash["runs"]] == [gone.id] and trash["runs"][0]["deleted_time"]
    assert "deleted" in cli("runs", "show", gone.id, cwd=tmp_path).stdout
    assert cli("runs", "restore", gone.id, cwd=tmp_path).returncode == 0
    again = cli("runs", "restore", gone.id, cwd=tmp_path)
    assert (
        again.returncode == 1
        and again.stderr.startswith("error:")
        and "not deleted" in (again.stderr)
    )
    assert len(json.loads(cli("runs", "ls", "--json", cwd=tmp_path).stdout)["runs"]) == 2
    unknown = cli("runs", "delete", "f" * 32, cwd=tmp_path)
    assert unknown.returncode == 1 and "not found" in unknown.stderr


def test_data_rm_and_models_rm(workspace: Workspace, tmp_path: Path) -> None:
    for rows in (10, 20):
        pd.DataFrame({"a": range(rows)}).to_csv(tmp_path / "t.csv", index=False)
        loopml.datasets.add("t", tmp_path / "t.csv")
    removed = cli("data", "rm", "t@2", "--json", cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout) == {"deleted": {"name": "t", "version": 2}}
    assert loopml.datasets.get("t").version == 1
    no_version = cli("data", "rm", "t", cwd=tmp_path)
    assert no_version.returncode == 1 and "name the version" in no_version.stderr

    frame = pd.DataFrame(np.arange(20.0).reshape(10, 2), columns=["x0", "x1"])
    model = LogisticRegression().fit(frame, [0, 1] * 5)
    for _ in range(3):
        loopml.registry.register("clf", model)
    loopml.registry.set_alias("clf", "champion", 1)
    loopml.deployments.create("api", "clf/2")
    aliased = cli("models", "rm", "clf/1", cwd=tmp_path)
    assert aliased.returncode == 1 and "champion" in aliased.stderr
    serving = cli("models", "rm", "clf/2", cwd=tmp_path)
    assert serving.returncode == 1 and "deployment api" in serving.stderr
    assert "Traceback" not in serving.stderr
    assert cli("models", "rm", "clf/3", cwd=tmp_path).returncode == 0
    assert [v.version for v in workspace.store.models.list_versions("clf")] == [1, 2]


def _predictions(n: int, when: datetime) -> list[Prediction]:
    return [
        Prediction(
            id=os.urandom(16).hex(), deployment="api", model="clf", version=1,
            route=RouteMode.PRIMARY, time=when, features={"customer_id": i % 3, "x": 1.0},
            output=0, latency_ms=1.0,
        )
        for i in range(n)
    ]  # fmt: skip


def test_gc_reports_and_applies_retention(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "loopml.yaml").write_text("deployments:\n  api:\n    retention: 30d\n")
    old = _predictions(4, datetime(2020, 1, 1, tzinfo=UTC))
    workspace.store.predictions.log(old + _predictions(2, datetime.now(UTC)))
    with loopml.start_run(project="p") as run:
        run.log_artifact("blob", os.urandom(400_000))
    loopml.delete_run(run.id)
    orphan = workspace.artifacts.put_bytes(os.urandom(2000))
    past = time.time() - 7200
    os.utime(workspace.artifacts.loose_path(orphan), (past, past))

    dry = cli("gc", "--dry-run", "--older-than", "0s", "--json", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)["gc"]
    assert report["dry_run"] and report["purged_runs"] == [run.id]
    assert report["expired_predictions"] == {"api": 4} and report["bytes_freed"] >= 2000
    assert workspace.store.predictions.count("api") == 6

    done = cli("gc", "--older-than", "0s", "--grace", "1h", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "purged 1 deleted run" in done.stdout and "api: 4 prediction" in done.stdout
    assert "freed" in done.stdout
    assert workspace.store.predictions.count("api") == 2
    assert not workspace.artifacts.has(orphan)
    bad = cli("gc", "--older-than", "soon", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.startswith("error: --older-than")


def test_predictions_forget(workspace: Workspace, tmp_path: Path) -> None:
    loopml.registry.register("clf", LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    loopml.deployments.create("api", "clf/1")
    rows = _predictions(9, datetime.now(UTC))
    workspace.store.predictions.log(rows)
    workspace.store.predictions.add_labels([Label(rows[0].id, 1), Label(rows[1].id, 0)])
    loopml.datasets.from_feedback("api")
    result = cli("predictions", "forget", "--deployment", "api", "--column", "customer_id",
                 "--value", "0", "--json", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["forget"]
    assert (report["predictions"], report["labels"]) == (3, 1)
    assert report["feedback_datasets"] == ["api-feedback@1"]
    assert workspace.store.predictions.count("api") == 6
    event = workspace.store.audit.events(action="predictions.forget")[0]
    assert event.details == {"column": "customer_id", "predictions": 3, "labels": 1}
    unknown = cli("predictions", "forget", "-d", "nope", "--column", "c", "--value", "1",
                  cwd=tmp_path)  # fmt: skip
    assert unknown.returncode == 1 and "nope" in unknown.stderr
