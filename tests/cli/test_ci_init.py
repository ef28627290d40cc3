"""`loopml ci init --github|--gitlab`: the generated workflows parse, have the expected shape,
and their steps' commands, run in order by bash in a project like a user's (a policy, its
training pipeline, a dataset, a champion serving behind a deployment), do what they say: a
better model passes the gate, is marked `candidate` and handed to the controller, which
canaries it; a worse one fails the gate step and changes nothing.

Only the set-up steps are skipped (GitHub: the `uses:` actions and the step named `install`;
GitLab: `default.before_script`); the commands find `loopml` and `pytest` on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import loopml
from tests.automation.conftest import LoopWorld, make_frame
from tests.cli.test_cli import cli
from tests.conftest import require

SMOKE_TEST = "def test_smoke():\n    assert 1 + 1 == 2\n"
SECRETS = ("LOOPML_SERVER_URI", "LOOPML_TOKEN", "LOOPML_STORE_URI", "LOOPML_ARTIFACT_URI")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoopWorld:
    """A user's project: loopml.yaml with a policy for `api`, train.py, dataset tx, champion
    clf/1 serving as `api`'s primary, a test suite, and the newest data in data/tx.csv."""
    monkeypatch.chdir(tmp_path)
    world = LoopWorld(tmp_path)
    world.bootstrap()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_smoke.py").write_text(SMOKE_TEST)
    return world


def new_data(world: LoopWorld) -> None:
    """Data after a change the champion has not seen: a retrained model beats it."""
    frame = make_frame(800, shift=2.0, seed=7)
    world.add_data(frame)
    write_data(world, frame)


def write_data(world: LoopWorld, frame: pd.DataFrame) -> None:
    """The data file in the repository that the workflow validates."""
    (world.root / "data").mkdir(exist_ok=True)
    frame.to_csv(world.root / "data" / "tx.csv", index=False)


def init(world: LoopWorld, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("ci", "init", "--data", "data/tx.csv", *args, cwd=world.root)


def run_steps(world: LoopWorld, steps: list[tuple[str, str]]) -> dict[str, int]:
    """Run each (name, script) with bash in the project, in order, stopping at the first that
    fails, as CI does; the CI secrets are set but empty (unset secrets), so the workspace
    folder is used. Returns each run step's exit code."""
    bin_dir = str(Path(sys.executable).parent)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env = {**clean, **dict.fromkeys(SECRETS, ""), "PATH": f"{bin_dir}:{clean.get('PATH', '')}"}
    codes: dict[str, int] = {}
    for name, script in steps:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script], cwd=world.root, env=env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        codes[name] = done.returncode
        if done.returncode != 0:
            print(f"step {name} failed:\n{done.stdout}\n{done.stderr}")
            break
    return codes


def github_steps(world: LoopWorld) -> tuple[list[tuple[str, str]], list[str]]:
    doc = yaml.safe_load((world.root / ".github/workflows/loopml.yml").read_text())
    assert doc["on"] == {"push": {"branches": ["main"]}}
    job = doc["jobs"]["loopml"]
    assert job["env"] == {k: f"${{{{ secrets.{k} }}}}" for k in SECRETS}
    steps = job["steps"]
    skipped = [s["name"] for s in steps if "uses" in s or s["name"] == "install"]
    assert skipped == ["checkout", "python", "install"]
    assert "pip install loopml" in steps[2]["run"]
    return [(s["name"], s["run"]) for s in steps if s["name"] not in skipped], skipped


def gitlab_steps(world: LoopWorld) -> list[tuple[str, str]]:
    doc = yaml.safe_load((world.root / ".gitlab-ci.yml").read_text())
    stages = doc["stages"]
    assert stages == ["test", "validate", "train", "gate", "register", "canary"]
    assert "pip install loopml" in "\n".join(doc["default"]["before_script"])  # skipped
    assert '$CI_PIPELINE_SOURCE == "push"' in doc["workflow"]["rules"][0]["if"]
    jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and "stage" in v}
    assert [jobs[name]["stage"] for name in stages] == stages
    assert doc["gate"]["artifacts"]["paths"] == [".loopml-ci/"]
    return [(name, "\n".join(jobs[name]["script"])) for name in stages]


def loop_state(world: LoopWorld) -> dict[str, Any]:
    done = cli("loop", "status", "--json", cwd=world.root)
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    return row  # type: ignore[no-any-return]


def aliases(world: LoopWorld) -> dict[str, int]:
    return dict(world.ws.store.models.get_model("clf").aliases)


def test_github_workflow_passes_a_better_model_to_the_controllers_canary(
    world: LoopWorld,
) -> None:
    new_data(world)
    done = init(world, "--github")
    assert done.returncode == 0, done.stderr
    assert "test -> validate -> train -> gate -> register -> canary" in done.stdout
    steps, _ = github_steps(world)
    assert [name for name, _ in steps] == ["test", "validate", "train", "gate", "register",
                                           "canary"]  # fmt: skip
    assert all(code == 0 for code in run_steps(world, steps).values())

    assert aliases(world) == {"champion": 1, "candidate": 2}
    row = loop_state(world)
    assert (row["phase"], row["candidate"], row["trigger"]) == ("canary", "clf/2", "manual request")
    deployment = loopml.deployments.get("api", workspace=world.ws)
    assert deployment.canary is not None and deployment.canary.uri == "clf/2"
    assert deployment.canary.weight == pytest.approx(0.2)  # the policy's share
    assert deployment.primary.uri == "clf/1"
    # The controller trained nothing new: the pipeline's cache gave it the version CI gated.
    assert world.ws.store.models.get_model("clf").latest_version == 2


def test_gitlab_workflow_stops_a_worse_model_at_the_gate(world: LoopWorld) -> None:
    world.policy(quality="bad")  # labels shuffled: a model no better than chance
    write_data(world, make_frame(800, seed=1))  # the data of the dataset's version 1
    done = init(world, "--gitlab")
    assert done.returncode == 0, done.stderr
    codes = run_steps(world, gitlab_steps(world))
    assert codes == {"test": 0, "validate": 0, "train": 0, "gate": 1}

    assert not (world.root / ".loopml-ci" / "version").exists()
    assert aliases(world) == {"champion": 1}  # registered by the pipeline, never marked
    assert loop_state(world)["phase"] == "idle"  # nothing handed to the controller
    deployment = loopml.deployments.get("api", workspace=world.ws)
    assert deployment.canary is None and deployment.primary.uri == "clf/1"


def test_gitlab_workflow_passes_a_better_model(world: LoopWorld) -> None:
    new_data(world)
    assert init(world, "--gitlab").returncode == 0
    codes = run_steps(world, gitlab_steps(world))
    assert set(codes.values()) == {0} and len(codes) == 6
    assert aliases(world)["candidate"] == 2
    assert loop_state(world)["phase"] == "canary"


def test_a_direct_canary_instead_of_the_controller(world: LoopWorld) -> None:
    new_data(world)
    assert init(world, "--github", "--canary", "0.1", "--tests", "").returncode == 0
    steps, _ = github_steps(world)
    assert [name for name, _ in steps] == ["validate", "train", "gate", "register", "canary"]
    assert set(run_steps(world, steps).values()) == {0}
    deployment = loopml.deployments.get("api", workspace=world.ws)
    assert deployment.canary is not None and deployment.canary.uri == "clf/2"
    assert deployment.canary.weight == pytest.approx(0.1)
    assert loop_state(world)["phase"] == "idle"  # a person promotes it


def test_init_refuses_to_overwrite_without_force(world: LoopWorld) -> None:
    assert init(world, "--github").returncode == 0
    target = world.root / ".github/workflows/loopml.yml"
    target.write_text("# mine\n")
    done = init(world, "--github")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: ") and "--force" in done.stderr
    assert done.stderr.count("\n") == 1
    assert target.read_text() == "# mine\n"
    assert init(world, "--github", "--force").returncode == 0
    assert target.read_text().startswith("# Generated by `loopml ci init`")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "choose one of --github and --gitlab"),
        (("--github", "--gitlab"), "choose one of --github and --gitlab"),
        (("--github", "--deployment", "nope"), "no policy for deployment 'nope'"),
        (("--github", "--canary", "1.5"), "--canary"),
    ],
)
def test_bad_options_are_one_line_errors(
    world: LoopWorld, args: tuple[str, ...], message: str
) -> None:
    done = cli("ci", "init", *args, cwd=world.root)
    assert done.returncode == 1 and message in done.stderr and done.stderr.count("\n") == 1
    assert not (world.root / ".github").exists() and not (world.root / ".gitlab-ci.yml").exists()


def test_no_policy_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "loopml.yaml").write_text("alerts: []\n")
    done = cli("ci", "init", "--github", cwd=tmp_path)
    assert done.returncode == 1 and "no policies" in done.stderr


def test_loop_gate_json_and_exit_code(world: LoopWorld) -> None:
    """The gate step's command on its own: the same decision the controller would make."""
    new_data(world)
    ids = world.root / "run-id"
    done = cli("pipeline", "run", "train.py:training", "--id-file", str(ids), cwd=world.root)
    assert done.returncode == 0, done.stderr
    run_id = ids.read_text().strip()
    done = cli("loop", "gate", "api", "--pipeline-run", run_id[:8], "--json", cwd=world.root)
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert decision["passed"] is True and decision["candidate_version"] == "clf/2"
    assert decision["champion"] == "clf/1" and decision["interval"]["low"] > 0

    # The same run again: the champion is now clf/2, the cached run returns it -> unchanged.
    world.ws.store.models.set_alias("clf", "champion", 2, actor="test", reason="test")
    done = cli("pipeline", "run", "train.py:training", "--id-file", str(ids), cwd=world.root)
    done = cli("loop", "gate", "api", "--pipeline-run", ids.read_text().strip(), cwd=world.root)
    assert done.returncode == 0 and "nothing new" in done.stdout


@pytest.mark.parametrize(
    ("flag", "file", "schema"),
    [
        ("--github", ".github/workflows/loopml.yml", "vendor.github-workflows"),
        ("--gitlab", ".gitlab-ci.yml", "vendor.gitlab-ci"),
    ],
)
def test_workflows_match_the_ci_systems_schemas(
    world: LoopWorld, flag: str, file: str, schema: str
) -> None:
    """Against the schemas GitHub and GitLab publish, as check-jsonschema vendors them
    (offline); a broken file fails, so the check is not vacuous."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    if not checker.exists():
        require("check-jsonschema", "pip install check-jsonschema (in the dev extra)")
    assert init(world, flag).returncode == 0
    path = world.root / file

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(checker), "--builtin-schema", schema, str(path)],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    done = check()
    assert done.returncode == 0, done.stdout + done.stderr
    doc = yaml.safe_load(path.read_text())
    if flag == "--github":
        del doc["jobs"]["loopml"]["runs-on"]
    else:
        doc["train"]["when"] = "sometimes"  # not one of GitLab's values
    path.write_text(yaml.safe_dump(doc))
    assert check().returncode == 1
