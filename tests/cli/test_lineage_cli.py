"""`loopml lineage PREDICTION_ID`: a served prediction traced back through its model version,
training run, pipeline run and dataset version to the code commit, as separate processes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.cli.prediction_lineage import prediction_lineage
from loopml.core.errors import NotFoundError
from loopml.serving.app import create_app
from loopml.serving.service import ServeSettings
from loopml.workspace import Workspace
from tests.cli.built import build_once, copy_built
from tests.cli.test_cli import cli

LABEL = "target"


@loopml.step
def ingest(version: int) -> pd.DataFrame:
    return loopml.datasets.load("iris", version)  # recorded as the step's input


@loopml.step
def fit(frame: pd.DataFrame) -> int:
    features = frame.drop(columns=[LABEL])
    model = LogisticRegression(max_iter=500).fit(features, frame[LABEL])
    return loopml.registry.register("iris-clf", model, input_example=features.head()).version


@loopml.pipeline(project="iris")
def training(version: int):
    fit(ingest(version=version))


def _git_commit(folder: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=folder, capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout.strip()

    (folder / "README").write_text("lineage\n")
    git("init", "-q")
    git("add", "README")
    git("commit", "-q", "-m", "start")
    return git("rev-parse", "HEAD")


def _build(workspace: Workspace, folder: Path) -> dict:
    """iris@1 -> pipeline `training` (ingest -> fit, which registers iris-clf/1) -> deployment
    iris-api -> one prediction served over HTTP, labelled through /feedback."""
    commit = _git_commit(folder)
    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    frame.to_csv(folder / "iris.csv", index=False)
    dataset = loopml.datasets.add("iris", folder / "iris.csv", workspace=workspace)
    result = training.run(version=dataset.version, workspace=workspace)
    assert result.status == "FINISHED"
    loopml.registry.set_alias("iris-clf", "champion", 1, workspace=workspace)
    loopml.deployments.create("iris-api", "iris-clf@champion", workspace=workspace)
    row = frame.drop(columns=[LABEL]).iloc[0].to_dict()
    app = create_app(workspace, "iris-api", ServeSettings())
    with TestClient(app, base_url="http://localhost") as client:  # an allowed Host
        answer = client.post("/predict", json={"instances": [row]})
        assert answer.status_code == 200, answer.text
        (prediction_id,) = answer.json()["prediction_ids"]
        feedback = client.post("/feedback", json=[{"prediction_id": prediction_id, "label": 0}])
        assert feedback.status_code == 200, feedback.text
    return {"commit": commit, "pipeline": result, "dataset": dataset, "id": prediction_id,
            "output": answer.json()["predictions"][0]}  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The chain, built once for the module in its own folder, isolated as tests are."""
    return build_once(tmp_path_factory, "lineage", _build)


@pytest.fixture
def chain(built: tuple[Path, dict], tmp_path: Path) -> dict:
    """A copy of the built chain (workspace, git repository, data) in this test's folder."""
    return copy_built(built, tmp_path)


def ok(*args: str, cwd: Path) -> str:
    done = cli(*args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tree_names_every_link(chain: dict, tmp_path: Path) -> None:
    pipeline = chain["pipeline"]
    text = ok("lineage", chain["id"], cwd=tmp_path)
    for expected in (
        f"prediction {chain['id']}", "deployment iris-api", "route primary",
        f"output {chain['output']}", "label 0", "model version iris-clf/1", "@champion",
        f"training run {pipeline.step('fit').run_id} fit", f"pipeline run {pipeline.id} training",
        "dataset iris@1", chain["dataset"].digest, f"code commit {chain['commit']}",
    ):  # fmt: skip
        assert expected in text, (expected, text)
    lines = text.splitlines()
    order = [next(i for i, line in enumerate(lines) if word in line)
             for word in ("prediction", "model version", "training run", "pipeline run",
                          "dataset iris@1", "code commit")]  # fmt: skip
    assert order == sorted(order)


def test_json_is_the_same_chain(chain: dict, tmp_path: Path) -> None:
    shown = json.loads(ok("lineage", chain["id"], "--json", cwd=tmp_path))
    prediction, version, lineage = shown["prediction"], shown["model_version"], shown["lineage"]
    assert (prediction["id"], prediction["deployment"], prediction["route"]) == (
        chain["id"], "iris-api", "primary",
    )  # fmt: skip
    assert (prediction["model"], prediction["version"], prediction["label"]) == ("iris-clf", 1, 0)
    assert prediction["output"] == chain["output"] and prediction["time"]
    assert version == {"name": "iris-clf", "version": 1, "flavor": "sklearn",
                       "aliases": ["champion"]}  # fmt: skip
    pipeline = chain["pipeline"]
    assert lineage["run"]["id"] == pipeline.step("fit").run_id
    assert (lineage["pipeline_run"]["id"], lineage["pipeline_run"]["name"]) == (
        pipeline.id, "training",
    )  # fmt: skip
    assert lineage["datasets"] == [
        {"name": "iris", "version": 1, "digest": chain["dataset"].digest}
    ]
    assert (lineage["commit"], lineage["diff_digest"]) == (chain["commit"], None)


def test_model_refs_and_run_ids_still_trace(chain: dict, tmp_path: Path) -> None:
    step_run = chain["pipeline"].step("fit").run_id
    model = ok("lineage", "iris-clf/1", cwd=tmp_path)
    assert "model iris-clf/1" in model and f"run {step_run[:12]} fit" in model
    assert "dataset iris@1" in model
    assert f"run {step_run[:12]} fit" in ok("lineage", step_run[:8], cwd=tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lineage", "e" * 32), f"no prediction or run has id {'e' * 32!r}"),
        (("lineage", "abcd1234"), "no prediction or run has id 'abcd1234'"),
        (("lineage", "iris-clf/9"), "has no version 9"),
    ],
)
def test_unknown_ids_give_one_line_errors(
    chain: dict, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_prediction_has_nothing_downstream(chain: dict, tmp_path: Path) -> None:
    done = cli("lineage", chain["id"], "--down", cwd=tmp_path)
    assert done.returncode == 1 and "nothing downstream" in done.stderr


def test_the_function_names_an_unknown_id(chain: dict, tmp_path: Path) -> None:
    workspace = Workspace.open(tmp_path)
    try:
        found = prediction_lineage(workspace, chain["id"])
        assert found.model_version is not None and found.model_version.version == 1
        assert found.lineage is not None and found.lineage.commit == chain["commit"]
        with pytest.raises(NotFoundError, match="f" * 32):
            prediction_lineage(workspace, "f" * 32)
    finally:
        workspace.close()
