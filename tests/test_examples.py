"""The example training pipeline runs end to end, caches, and stops on bad data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_pipeline.py"
pytestmark = pytest.mark.slow


def _run(cwd: Path, *args: str) -> dict:
    done = cli("pipeline", "run", f"{EXAMPLE}:training", "--json", *args, cwd=cwd)
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def test_training_pipeline_end_to_end(tmp_path: Path) -> None:
    assert cli("init", cwd=tmp_path).returncode == 0
    first = _run(tmp_path, "-p", "C=0.5")
    assert first["status"] == "FINISHED", first
    names = [s["name"] for s in first["steps"]]
    assert names == ["ingest", "validate", "split", "train", "evaluate", "register"]
    again = _run(tmp_path, "-p", "C=0.5")
    assert all(s["cached"] for s in again["steps"])
    other = _run(tmp_path, "-p", "C=2.0")
    assert [s["cached"] for s in other["steps"]] == [True, True, True, False, False, False]
    shown = json.loads(cli("models", "show", "wine-clf@champion", "--json", cwd=tmp_path).stdout)
    assert shown["version"]["version"] in (1, 2)  # the gate decided which one is champion


def test_bad_new_data_stops_before_training(tmp_path: Path) -> None:
    assert cli("init", cwd=tmp_path).returncode == 0
    assert _run(tmp_path)["status"] == "FINISHED"  # version 1, from scikit-learn
    from sklearn.datasets import load_wine

    bad = load_wine(as_frame=True).frame.drop(columns=["alcohol"])
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert cli("data", "add", "wine", str(tmp_path / "bad.csv"), cwd=tmp_path).returncode == 0
    result = _run(tmp_path)
    steps = {s["name"]: s for s in result["steps"]}
    assert result["status"] == "FAILED"
    assert steps["validate"]["status"] == "FAILED"
    assert "alcohol" in steps["validate"]["error"]
    assert steps["train"]["status"] == "SKIPPED"
