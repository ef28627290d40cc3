"""`loopml monitor`, run as users run it: the summary, JSON, the HTML report, the history of
reports, and the exit codes (0 whatever the verdict, 2 with --fail-on-drift, 1 on errors)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from loopml.workspace import Workspace
from tests.cli.test_cli import cli
from tests.monitoring.helpers import FEATURES, deploy_iris, label, log_predictions, shifted


@pytest.fixture
def served(workspace: Workspace, tmp_path: Path) -> Workspace:
    model = deploy_iris(workspace, tmp_path)
    log_predictions(workspace, model, FEATURES.sample(150, random_state=0))
    return workspace


@pytest.fixture
def drifting(workspace: Workspace, tmp_path: Path) -> Workspace:
    model = deploy_iris(workspace, tmp_path)
    ids = log_predictions(workspace, model, shifted(FEATURES.sample(150, random_state=1)))
    label(workspace, ids[:40])
    return workspace


def test_summary_without_drift(served: Workspace, tmp_path: Path) -> None:
    done = cli("monitor", "iris-api", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "dataset drift: no" in out and "0 of 4 columns drifted" in out
    assert "reference: dataset iris@1 (150 rows)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    for column in FEATURES.columns:
        assert rows[column][1:3] == ["numeric", "ks"] and rows[column][-1] == "no"
    assert "prediction drift: no" in out
    assert "performance: not available (no labels in this window yet)" in out
    assert "accuracy" in rows and rows["accuracy"][1:] == ["-", "0.97"]  # training beside
    assert cli("monitor", "iris-api", "--fail-on-drift", cwd=tmp_path).returncode == 0


def test_drift_json_and_fail_on_drift(drifting: Workspace, tmp_path: Path) -> None:
    done = cli("monitor", "iris-api", "--window", "1000", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # drift alone is no error
    report = json.loads(done.stdout)
    assert report["dataset_drift"] is True and report["drift_share"] == 0.5
    assert report["columns"]["petal_width"]["drifted"] is True
    assert report["columns"]["sepal_width"]["drifted"] is False
    assert report["performance"]["available"] and report["performance"]["rows"] == 40
    assert report["model"] == "iris/1" and report["current"].endswith("last 1000 predictions")
    gate = cli("monitor", "iris-api", "--fail-on-drift", cwd=tmp_path)
    assert gate.returncode == 2, gate.stderr
    assert "dataset drift: yes" in gate.stdout and "2 of 4 columns drifted" in gate.stdout
    assert "performance of iris/1: classification on 40 labeled predictions" in gate.stdout


def test_html_report_is_self_contained(drifting: Workspace, tmp_path: Path) -> None:
    page_path = tmp_path / "report.html"
    done = cli("monitor", "iris-api", "--html", str(page_path), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["dataset_drift"] is True  # stdout stays JSON
    assert "report.html" in done.stderr
    page = page_path.read_text(encoding="utf-8")
    for column in FEATURES.columns:
        assert f"<h3>{column}</h3>" in page
    assert "plotly" in page and "Plotly.newPlot" in page
    assert not re.search(r"<script[^>]*\bsrc\s*=", page)  # plotly.js is inline, no CDN
    assert not re.search(r"""<link[^>]*href\s*=\s*["']?http""", page)
    assert "Dataset drift" in page
    assert not (tmp_path / "report.html.partial").exists()


def test_history_lists_stored_reports(drifting: Workspace, tmp_path: Path) -> None:
    empty = cli("monitor", "iris-api", "--history", cwd=tmp_path)
    assert empty.returncode == 0 and "no reports" in empty.stdout
    for _ in range(2):
        assert cli("monitor", "iris-api", cwd=tmp_path).returncode == 0
    listed = cli("monitor", "iris-api", "--history", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if "petal_length, petal_width" in line]
    assert len(lines) == 2 and all("50%" in line and "accuracy" in line for line in lines)
    as_json = json.loads(cli("monitor", "iris-api", "--history", "--json", cwd=tmp_path).stdout)
    assert [r["drift_share"] for r in as_json["reports"]] == [0.5, 0.5]
    assert as_json["reports"][0]["time"] > as_json["reports"][1]["time"]  # newest first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["monitor", "ghost"], "deployment 'ghost' not found"),
        (["monitor", "ghost", "--history"], "deployment 'ghost' not found"),
        (["monitor", "iris-api", "--since", "yesterday"], "not an ISO 8601 time"),
        (["monitor", "iris-api", "--reference", "nope@1"], "nope"),
    ],
)
def test_errors_print_one_line(
    served: Workspace, tmp_path: Path, args: list[str], message: str
) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_since_selects_the_window(served: Workspace, tmp_path: Path) -> None:
    later = cli("monitor", "iris-api", "--since", "2999-01-01", "--json", cwd=tmp_path)
    assert later.returncode == 0, later.stderr
    report = json.loads(later.stdout)
    assert report["current_rows"] == 0 and report["dataset_drift"] is False
    assert [q["kind"] for q in report["quality"]] == ["empty_window"]
