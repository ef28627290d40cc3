"""`loopml pipeline run|ls|show` and `loopml lineage`, as separate processes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.cli.test_cli import cli

FLOW = textwrap.dedent(
    """
    import loopml
    from helpers import double  # a neighbour module of the pipeline file

    @loopml.step
    def source(n: int) -> list:
        return list(range(n))

    @loopml.step
    def total(values: list, scale: float) -> float:
        return double(sum(values) * scale)

    @loopml.step
    def fail(value: float) -> float:
        raise RuntimeError(f"refusing {value}")

    @loopml.pipeline
    def flow(n: int = 3, scale: float = 1.0):
        total(source(n=n), scale=scale)

    @loopml.pipeline
    def broken():
        fail(total(source(n=2), scale=1.0))
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flow.py").write_text(FLOW)
    (tmp_path / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    assert cli("init", cwd=tmp_path).returncode == 0
    return tmp_path


@pytest.mark.parametrize("executor", ["local", "process"])
def test_run_with_params_then_cached(project: Path, executor: str) -> None:
    done = cli("pipeline", "run", "flow.py:flow", "-p", "n=4", "-p", "scale=2",
               "--executor", executor, "--json", cwd=project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "FINISHED" and result["params"] == {"n": "4", "scale": "2.0"}
    again = cli("pipeline", "run", "flow.py:flow", "-p", "n=4", "-p", "scale=2", cwd=project)
    assert again.returncode == 0, again.stderr
    assert "2 steps, 2 from cache" in again.stdout
    fresh = cli("pipeline", "run", "flow.py:flow", "-p", "n=4", "-p", "scale=2", "--no-cache",
                cwd=project)  # fmt: skip
    assert "0 from cache" in fresh.stdout


def test_failed_step_exits_nonzero_and_shows_the_error(project: Path) -> None:
    done = cli("pipeline", "run", "flow.py:broken", cwd=project)
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "RuntimeError: refusing 2.0" in done.stdout


def test_ls_and_show(project: Path) -> None:
    cli("pipeline", "run", "flow.py:flow", cwd=project)
    listed = json.loads(cli("pipeline", "ls", "--json", cwd=project).stdout)["pipeline_runs"]
    assert [r["tags"]["loopml.pipeline"] for r in listed] == ["flow"]
    run_id = listed[0]["id"]
    shown = cli("pipeline", "show", run_id[:8], cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert "source" in shown.stdout and "total" in shown.stdout and "FINISHED" in shown.stdout
    steps = json.loads(cli("pipeline", "show", run_id, "--json", cwd=project).stdout)["steps"]
    assert [(s["name"], s["status"], s["cached"]) for s in steps] == [
        ("source", "FINISHED", False),
        ("total", "FINISHED", False),
    ]


def test_lineage_tree_up_and_down(project: Path) -> None:
    result = json.loads(cli("pipeline", "run", "flow.py:flow", "--json", cwd=project).stdout)
    total, source = result["steps"][1]["run_id"], result["steps"][0]["run_id"]
    up = cli("lineage", total, cwd=project)
    assert up.returncode == 0, up.stderr
    assert "input values" in up.stdout and f"run {source[:12]} source" in up.stdout
    down = json.loads(cli("lineage", source, "--down", "--json", cwd=project).stdout)
    consumers = [c["id"] for c in down["children"][0]["children"]]
    assert consumers == [total]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pipeline", "run", "nope.py:flow"], "nope.py is not a file"),
        (["pipeline", "run", "flow.py:missing"], "no @loopml.pipeline named 'missing'"),
        (["pipeline", "run", "flow.py"], "expected FILE.py:PIPELINE"),
        (["pipeline", "run", "flow.py:flow", "-p", "bogus=1"], "unexpected keyword"),
        (["pipeline", "run", "flow.py:flow", "-p", "novalue"], "KEY=VALUE"),
        (["pipeline", "show", "ffffffff"], "not found"),
        (["lineage", "what?"], "too short or malformed"),
    ],
)
def test_bad_input_gives_one_line_errors(project: Path, args: list[str], message: str) -> None:
    done = cli(*args, cwd=project)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
