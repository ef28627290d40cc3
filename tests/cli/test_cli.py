"""The `loopml` command, run as users run it: a separate process, exit codes and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import loopml
from loopml.workspace import Workspace


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`loopml ARGS` in a separate process, with no LOOPML_* variables but those in `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return subprocess.run(
        [sys.executable, "-m", "loopml", *args], cwd=cwd, capture_output=True, text=True,
        env={**clean, **(env or {})}, timeout=120,
    )  # fmt: skip


@pytest.fixture
def two_runs(workspace: Workspace) -> list[str]:
    ids = []
    for c, acc in [(0.1, 0.81), (1.0, 0.93)]:
        with loopml.start_run(project="iris", name=f"C={c}", workspace=workspace) as run:
            run.log_params({"C": c, "solver": "lbfgs"})
            run.log_metric("acc", acc)
            run.log_artifact("weights", {"w": [1, 2]})
        ids.append(run.id)
    return ids


def test_init_creates_the_workspace(tmp_path: Path) -> None:
    done = cli("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".loopml" / "loopml.db").is_file()
    assert (tmp_path / ".loopml" / "artifacts").is_dir()
    assert cli("init", cwd=tmp_path).returncode == 0  # idempotent


def test_runs_ls_table_and_json(two_runs: list[str], tmp_path: Path) -> None:
    table = cli("runs", "ls", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert (
        "C=0.1" in table.stdout and "FINISHED" in table.stdout and two_runs[0][:8] in table.stdout
    )
    listed = json.loads(
        cli("runs", "ls", "--json", "--order-by", "metrics.acc DESC", cwd=tmp_path).stdout
    )
    assert [r["id"] for r in listed["runs"]] == [two_runs[1], two_runs[0]]
    assert listed["runs"][0]["params"] == {"C": "1.0", "solver": "lbfgs"}
    filtered = cli("runs", "ls", "--json", "-f", "metrics.acc > 0.9", "-p", "iris", cwd=tmp_path)
    assert [r["id"] for r in json.loads(filtered.stdout)["runs"]] == [two_runs[1]]


def test_runs_ls_pages(two_runs: list[str], tmp_path: Path) -> None:
    first = json.loads(cli("runs", "ls", "--json", "-n", "1", cwd=tmp_path).stdout)
    assert len(first["runs"]) == 1 and first["next_page_token"]
    second = json.loads(
        cli(
            "runs",
            "ls",
            "--json",
            "-n",
            "1",
            "--page-token",
            first["next_page_token"],
            cwd=tmp_path,
        ).stdout
    )
    assert {first["runs"][0]["id"], second["runs"][0]["id"]} == set(two_runs)


def test_runs_show_by_prefix(two_runs: list[str], tmp_path: Path) -> None:
    done = cli("runs", "show", two_runs[0][:8], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "C=0.1" in done.stdout and "weights" in done.stdout and "lbfgs" in done.stdout
    shown = json.loads(cli("runs", "show", two_runs[0], "--json", cwd=tmp_path).stdout)
    assert shown["run"]["metrics"] == {"acc": 0.81}
    assert shown["artifacts"][0]["name"] == "weights"


def test_runs_compare_highlights_differences(two_runs: list[str], tmp_path: Path) -> None:
    done = cli("runs", "compare", *two_runs, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "0.81" in lines["metrics.acc"] and "0.93" in lines["metrics.acc"]
    assert lines["params.solver"].count("lbfgs") == 2
    as_json = json.loads(cli("runs", "compare", *two_runs, "--json", cwd=tmp_path).stdout)
    assert [r["id"] for r in as_json["runs"]] == two_runs


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "show", "0123456789abcdef0123456789abcdef"], "not found"),
        (["runs", "ls", "-f", "metrics.acc >"], "invalid filter"),
        (["runs", "ls", "-p", "ghost"], "project 'ghost' not found"),
        (["runs", "show", "x"], "too short"),
    ],
)
def test_user_errors_print_one_line(
    two_runs: list[str], tmp_path: Path, args: list[str], message: str
) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_outside_a_workspace(tmp_path: Path) -> None:
    done = cli("runs", "ls", cwd=tmp_path)
    assert done.returncode == 1 and "loopml init" in done.stderr
    assert not (tmp_path / ".loopml").exists()


def test_help_lists_commands(tmp_path: Path) -> None:
    done = cli("--help", cwd=tmp_path)
    assert done.returncode == 0
    for command in ("init", "runs", "demo"):
        assert command in done.stdout
