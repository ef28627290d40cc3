"""`loopml models ls|show|alias|compare`, as separate processes over a real registry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import loopml
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
    accuracy = float(model.score(features, frame[LABEL]))
    version = loopml.registry.register(
        "iris-clf", model, input_example=features.head(), metrics={"accuracy": accuracy},
        tags={"team": "ml"}, description="logistic regression [l2] [/x]",
    )  # fmt: skip
    return version.version


@loopml.pipeline(project="iris")
def training(version: int):
    fit(ingest(version=version))


def _iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    return frame


def _git_commit(folder: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              cwd=folder, capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout.strip()

    (folder / "README").write_text("models\n")
    git("init", "-q")
    git("add", "README")
    git("commit", "-q", "-m", "start")
    return git("rev-parse", "HEAD")


def _build(workspace: Workspace, folder: Path) -> dict:
    """iris-clf/1 (logistic regression, trained in a pipeline step from dataset iris@1, the
    champion) and iris-clf/2 (a one-split tree, registered outside any run)."""
    commit = _git_commit(folder)
    frame = _iris()
    frame.to_csv(folder / "iris.csv", index=False)
    dataset = loopml.datasets.add("iris", folder / "iris.csv", workspace=workspace)
    result = training.run(version=dataset.version, workspace=workspace)
    assert result.status == "FINISHED"
    features = frame.drop(columns=[LABEL])
    stump = DecisionTreeClassifier(max_depth=1).fit(features, frame[LABEL])
    loopml.registry.register("iris-clf", stump, input_example=features.head(), workspace=workspace)
    loopml.registry.set_alias("iris-clf", "champion", 1, workspace=workspace)
    sizes = frame[["sepal_length", "sepal_width", "petal_length"]]
    width = LinearRegression().fit(sizes, frame["petal_width"])  # a regressor
    loopml.registry.register("iris-width", width, input_example=sizes.head(), workspace=workspace)
    loopml.registry.update_model("iris-clf", description="iris species", workspace=workspace)
    return {"commit": commit, "pipeline": result, "dataset": dataset}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The registry, built once for the module in its own folder, isolated as tests are."""
    return build_once(tmp_path_factory, "registry", _build)


@pytest.fixture
def registry(built: tuple[Path, dict], tmp_path: Path) -> dict:
    """A copy of the built registry (workspace, git repository, data) in this test's folder."""
    return copy_built(built, tmp_path)


def ok(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = cli(*args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


def test_ls_table_and_json(registry: dict, tmp_path: Path) -> None:
    table = ok("models", "ls", cwd=tmp_path).stdout
    assert "iris-clf" in table and "champion=1" in table and "iris species" in table
    (model, regressor) = json.loads(ok("models", "ls", "--json", cwd=tmp_path).stdout)["models"]
    assert (regressor["name"], regressor["latest_version"], regressor["aliases"]) == (
        "iris-width", 1, {},
    )  # fmt: skip
    assert (model["name"], model["latest_version"], model["aliases"], model["description"]) == (
        "iris-clf", 2, {"champion": 1}, "iris species",
    )  # fmt: skip


def test_ls_of_an_empty_registry(workspace: Workspace, tmp_path: Path) -> None:
    assert "no models yet" in ok("models", "ls", cwd=tmp_path).stdout
    assert json.loads(ok("models", "ls", "--json", cwd=tmp_path).stdout) == {"models": []}


def test_show_a_model_lists_its_versions(registry: dict, tmp_path: Path) -> None:
    lines = ok("models", "show", "iris-clf", cwd=tmp_path).stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in lines if line.split()[:1] in (["1"], ["2"])}
    assert rows["1"][1:4] == ["READY", "sklearn", "champion"]
    assert rows["2"][1:4] == ["READY", "sklearn", "-"]
    shown = json.loads(ok("models", "show", "iris-clf", "--json", cwd=tmp_path).stdout)
    assert shown["model"]["aliases"] == {"champion": 1}
    assert [(v["version"], v["aliases"]) for v in shown["versions"]] == [(1, ["champion"]), (2, [])]


def test_show_a_version_with_its_lineage(registry: dict, tmp_path: Path) -> None:
    pipeline = registry["pipeline"]
    step_run = pipeline.step("fit").run_id
    text = ok("models", "show", "iris-clf@champion", cwd=tmp_path).stdout
    for expected in ("iris-clf/1", "@champion", "sepal_length", "float", "accuracy", "team",
                     "logistic regression [l2] [/x]",
                     step_run, pipeline.id, "training", "iris@1", registry["commit"]):  # fmt: skip
        assert expected in text, expected
    shown = json.loads(ok("models", "show", "iris-clf/1", "--json", cwd=tmp_path).stdout)
    version, lineage = shown["version"], shown["lineage"]
    assert (version["flavor"], version["status"], version["tags"]) == (
        "sklearn",
        "READY",
        {"team": "ml"},
    )
    assert version["signature"]["inputs"][0] == {"name": "sepal_length", "type": "float"}
    assert lineage["run"] == {
        "id": step_run,
        "name": "fit",
        "status": "FINISHED",
        "project": "iris",
    }
    assert (lineage["pipeline_run"]["id"], lineage["pipeline_run"]["name"]) == (
        pipeline.id,
        "training",
    )
    assert lineage["datasets"] == [
        {"name": "iris", "version": 1, "digest": registry["dataset"].digest}
    ]
    assert lineage["commit"] == registry["commit"]


def test_show_a_version_registered_outside_a_run(registry: dict, tmp_path: Path) -> None:
    shown = json.loads(ok("models", "show", "iris-clf/2", "--json", cwd=tmp_path).stdout)
    assert shown["lineage"] == {"run_id": None, "run": None, "pipeline_run": None,
                                "datasets": [], "commit": None, "diff_digest": None}  # fmt: skip
    assert "registered outside" in ok("models", "show", "iris-clf/2", cwd=tmp_path).stdout


def test_alias_set_and_rm_are_audited(registry: dict, tmp_path: Path) -> None:
    moved = ok("models", "alias", "set", "iris-clf", "champion", "2", "--reason", "tree wins",
               cwd=tmp_path)  # fmt: skip
    assert "iris-clf@champion: iris-clf/1 -> iris-clf/2" in moved.stdout
    fresh = ok("models", "alias", "set", "iris-clf", "challenger", "1", cwd=tmp_path)
    assert "iris-clf@challenger: (none) -> iris-clf/1" in fresh.stdout
    removed = ok("models", "alias", "rm", "iris-clf", "challenger", "--reason", "done",
                 cwd=tmp_path)  # fmt: skip
    assert "iris-clf@challenger: iris-clf/1 -> (none)" in removed.stdout
    workspace = Workspace.open(tmp_path)
    try:
        champion = loopml.registry.resolve("iris-clf@champion", workspace=workspace)
        events = loopml.registry.history("iris-clf", workspace=workspace)
    finally:
        workspace.close()
    assert champion.version == 2
    moves = [(e.action, e.details["alias"], e.details["from"], e.details["to"],
              e.details["reason"]) for e in events]  # fmt: skip
    assert moves == [
        ("alias.delete", "challenger", 1, None, "done"),
        ("alias.set", "challenger", None, 1, None),
        ("alias.set", "champion", 1, 2, "tree wins"),
        ("alias.set", "champion", None, 1, None),
    ]
    assert all(e.actor for e in events)


def test_compare_exit_codes(registry: dict, tmp_path: Path) -> None:
    data = str(tmp_path / "iris.csv")
    passed = cli("models", "compare", "iris-clf/1", "iris-clf/2", "--data", data, "--label",
                 LABEL, "--metric", "accuracy", "-m", "f1", cwd=tmp_path)  # fmt: skip
    assert passed.returncode == 0, passed.stderr
    assert "PASS" in passed.stdout and "f1" in passed.stdout
    failed = cli("models", "compare", "iris-clf/2", "iris-clf@champion", "--data", data,
                 "--label", LABEL, cwd=tmp_path)  # fmt: skip
    assert failed.returncode == 1 and failed.stderr == ""
    assert "FAIL" in failed.stdout and "must be higher" in failed.stdout
    as_json = cli("models", "compare", "iris-clf/1", "iris-clf/2", "--data", data, "--label",
                  LABEL, "--must-beat-by", "0.5", "--json", cwd=tmp_path)  # fmt: skip
    decision = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and decision["passed"] is False
    assert decision["delta"] == pytest.approx(
        decision["candidate_metrics"]["accuracy"] - decision["baseline_metrics"]["accuracy"]
    )
    assert 0 < decision["delta"] < 0.5 and decision["reasons"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "show", "nope"), "model 'nope' not found"),
        (("models", "show", "nope@champion"), "model 'nope' not found"),
        (("models", "show", "iris-clf/9"), "has no version 9"),
        (("models", "show", "iris-clf@missing"), "has no alias 'missing'"),
        (("models", "alias", "set", "iris-clf", "bad alias", "1"), "alias 'bad alias' is invalid"),
        (("models", "alias", "set", "iris-clf", "latest", "1"), "alias 'latest' is invalid"),
        (("models", "alias", "set", "iris-clf", "champion", "9"), "has no version 9"),
        (("models", "alias", "set", "iris-clf", "champion", "two"), "must be a number"),
        (("models", "alias", "set", "nope", "champion", "1"), "model 'nope' not found"),
        (("models", "alias", "rm", "iris-clf", "missing"), "has no alias 'missing'"),
        (("models", "compare", "iris-clf/1", "iris-clf/9", "--data", "iris.csv", "--label",
          LABEL), "has no version 9"),
        (("models", "compare", "iris-clf/1", "iris-clf/2", "--data", "iris.csv", "--label",
          "y"), "no label column 'y'"),
        (("models", "compare", "iris-clf/1", "iris-clf/2", "--data", "missing.csv", "--label",
          LABEL), "no such file"),
        (("models", "compare", "iris-clf/1", "iris-clf/2", "--data", "iris.csv", "--label",
          LABEL, "--metric", "speed"), "unknown metric 'speed'"),
        (("models", "compare", "iris-width/1", "iris-width/1", "--data", "iris.csv", "--label",
          "petal_width"), "cannot score iris-width/1 by accuracy"),
        (("models", "compare", "iris-width/1", "iris-width/1", "--data", "iris.csv", "--label",
          "petal_width", "-m", "log_loss"), "has no predict_proba"),
    ],
)  # fmt: skip
def test_bad_input_gives_one_line_errors(
    registry: dict, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
