"""`loopml reproduce NAME/VERSION`: the pipeline behind a model version re-run from its record
in a git repository; it reproduces when trained deterministically, and does not (exit 1,
naming what differs) with an unseeded random step, a changed data file or changed code."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import loopml
from loopml.core.errors import LoopmlError
from loopml.core.models import VersionStatus
from loopml.pipelines.loader import load_pipeline
from loopml.pipelines.reproduce import reproduce
from loopml.workspace import Workspace
from tests.cli.test_cli import cli

PIPELINE = """
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import loopml

HERE = Path(__file__).parent


@loopml.step
def ingest() -> pd.DataFrame:
    version = loopml.datasets.add("points", HERE / "points.csv")
    return loopml.datasets.load("points", version.version)


@loopml.step
def train(frame: pd.DataFrame, C: float, noise: bool) -> float:
    features = frame[["x"]].to_numpy()
    if noise:  # randomness without a seed
        features = features + np.random.default_rng().normal(size=features.shape)
    model = LogisticRegression(C=C).fit(features, frame["y"])
    coef = float(model.coef_[0][0]) * SCALE
    loopml.current_run().log_metric("coef", coef)
    loopml.registry.register("points-clf", model, metrics={"coef": coef})
    return coef


@loopml.pipeline(project="points")
def training(C: float = 1.0, noise: bool = False):
    train(ingest(), C=C, noise=noise)
"""


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          cwd=folder, capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def _write(repo: Path, scale: float = 1.0, flip: bool = False) -> None:
    (repo / "pipe.py").write_text(PIPELINE + f"\nSCALE = {scale}\n")
    rows = ["x,y"] + [f"{x},{int((x > 4) != (flip and x % 3 == 0))}" for x in range(10)]
    (repo / "points.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / ".gitignore").write_text(".loopml/\n__pycache__/\n")
    _write(folder)
    _git(folder, "init", "-q")
    _git(folder, "add", ".")
    _git(folder, "commit", "-q", "-m", "start")
    monkeypatch.chdir(folder)
    yield folder


def _train(repo: Path, **params: object) -> Workspace:
    ws = Workspace.init(repo)
    result = load_pipeline("pipe.py:training", repo).run(workspace=ws, **params)
    assert result.status == "FINISHED", result.error
    loopml.registry.set_alias("points-clf", "champion", 1, workspace=ws)
    ws.close()
    return ws


def _reproduce(repo: Path, *args: str) -> tuple[int, dict]:
    done = cli("reproduce", "points-clf/1", "--json", *args, cwd=repo)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def _differences(report: dict) -> dict[str, dict]:
    return {d["what"]: d for d in report["differences"] if d["fails"]}


def test_a_deterministic_pipeline_reproduces_and_pollutes_nothing(repo: Path) -> None:
    _train(repo, C=0.5)
    code, report = _reproduce(repo)
    assert code == 0, report
    assert report["reproduced"] is True
    assert report["params"] == {"C": 0.5, "noise": False}
    assert _differences(report) == {}
    ws = Workspace.current()
    rerun = ws.store.runs.get(report["reproduction_run"])
    assert rerun.tags["loopml.reproduction_of"] == "points-clf/1"
    again = ws.store.models.get_version("points-clf", 2)
    assert again.tags["loopml.reproduction_of"] == "points-clf/1"
    assert again.status is VersionStatus.ARCHIVED  # points-clf@latest is still version 1
    assert ws.store.models.latest_version("points-clf").version == 1
    assert ws.store.models.get_alias("points-clf", "champion").version == 1

    done = cli("reproduce", "points-clf@champion", cwd=repo)  # the table
    assert done.returncode == 0, done.stderr
    assert "reproduced" in done.stdout and "does not" not in done.stdout


def test_randomness_without_a_seed_does_not_reproduce(repo: Path) -> None:
    _train(repo, noise=True)
    code, report = _reproduce(repo)
    assert code == 1
    differences = _differences(report)
    assert "step train coef" in differences
    assert "model points-clf/2 coef" in differences
    assert all(d["kind"] == "metric" for d in differences.values())
    # a relative tolerance wide enough accepts it
    code, report = _reproduce(repo, "--relative", "--tolerance", "1000")
    assert code == 0, report


def test_a_changed_data_file_does_not_reproduce(repo: Path) -> None:
    _train(repo)
    _write(repo, flip=True)
    code, report = _reproduce(repo)
    assert code == 1
    differences = _differences(report)
    assert differences["ingest:points"]["kind"] == "data"
    assert "step train coef" in differences
    code_changes = [d for d in report["differences"] if d["kind"] == "code"]
    assert code_changes and "points.csv" in code_changes[0]["detail"]  # the uncommitted file


def test_changed_code_does_not_reproduce_and_strict_refuses_to_run(repo: Path) -> None:
    _train(repo)
    recorded = _git(repo, "rev-parse", "HEAD")
    _write(repo, scale=2.0)
    _git(repo, "commit", "-q", "-am", "scale")
    code, report = _reproduce(repo, "--strict")
    assert code == 1
    assert report["reproduction_run"] is None
    commit = _differences(report)["git commit"]
    assert commit["recorded"] == recorded and "pipe.py" in commit["detail"]

    code, report = _reproduce(repo)
    assert code == 1
    differences = _differences(report)
    assert set(differences) == {"step train coef", "model points-clf/2 coef"}
    assert differences["step train coef"]["now"] == pytest.approx(
        2 * differences["step train coef"]["recorded"]
    )
    assert any(d["what"] == "git commit" and not d["fails"] for d in report["differences"])


def test_a_model_not_made_by_a_pipeline_is_refused(repo: Path, workspace: Workspace) -> None:
    from sklearn.dummy import DummyClassifier

    ws = Workspace.init(repo)
    with loopml.start_run(project="points", name="by-hand", workspace=ws) as run:
        loopml.registry.register("hand", DummyClassifier().fit([[0]], [0]), run=run, workspace=ws)
    with pytest.raises(LoopmlError, match="not a step of a pipeline run"):
        reproduce("hand/1", workspace=ws)
    loopml.registry.register("bare", DummyClassifier().fit([[0]], [0]), workspace=ws)
    done = cli("reproduce", "bare/1", cwd=repo)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: model bare/1 records no training run: nothing to re-run"
    ws.close()


def test_a_pipeline_run_without_its_source_needs_pipeline(repo: Path) -> None:
    _train(repo)
    ws = Workspace.current()
    version = ws.store.models.get_version("points-clf", 1)
    pipeline_run = ws.store.runs.get(version.run_id).parent_run_id
    ws.store.runs.delete_tag(pipeline_run, "loopml.pipeline_source")  # as before it was kept
    with pytest.raises(LoopmlError, match=r"pass --pipeline FILE\.py:NAME"):
        reproduce("points-clf/1", workspace=ws)
    report = reproduce("points-clf/1", workspace=ws, pipeline="pipe.py:training")
    assert report.reproduced, report.differences
    ws.close()
