"""Bad input is refused up front with a one-line error and exit 1 (issue 15.6)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import loopml
from loopml.monitoring.alerts import UNKNOWN_ALERT_COLUMN
from loopml.workspace import Workspace
from tests.cli.test_cli import cli
from tests.monitoring.test_alerts import deployed, log_traffic  # noqa: F401 - a fixture


@pytest.fixture
def runs(workspace: Workspace, tmp_path: Path) -> Path:
    for c, acc in [(0.1, 0.81), (1.0, 0.93)]:
        with loopml.start_run(project="iris", name=f"C={c}", workspace=workspace) as run:
            run.log_params({"C": c})
            run.log_metric("acc", acc)
            run.set_tags({"team": "a"})
    return tmp_path


def _one_line_error(done) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("order", "says"),
    [
        ("metrics.acc DESCENDING", "the direction must be ASC or DESC, got 'DESCENDING'"),
        ("start_time down", "the direction must be ASC or DESC, got 'down'"),
        ("metrics.accuracy DESC", "no run in project iris has the metric 'accuracy'"),
        ("params.D", "no run in project iris has the param 'D'"),
        ("tags.owner ASC", "no run in project iris has the tag 'owner'"),
    ],
)
def test_runs_ls_refuses_a_bad_order_by(runs: Path, order: str, says: str) -> None:
    assert says in _one_line_error(cli("runs", "ls", "-p", "iris", "--order-by", order, cwd=runs))


def test_runs_ls_orders_by_known_keys(runs: Path) -> None:
    for order in ("metrics.acc DESC", "params.C asc", "tags.team", "metrics.`acc` DESC"):
        done = cli("runs", "ls", "--json", "-p", "iris", "--order-by", order, cwd=runs)
        assert done.returncode == 0, done.stderr
    names = [r["name"] for r in json.loads(done.stdout)["runs"]]
    assert names == ["C=1.0", "C=0.1"]


FLOW = textwrap.dedent(
    """
    from pathlib import Path

    import loopml

    @loopml.step
    def first(n: int) -> int:
        Path("ran").write_text("first")  # the marker that a step ran
        return n

    @loopml.step
    def scaled(n: int, C: float) -> float:
        return n * C

    @loopml.pipeline
    def typed(C: float = 1.0, n: int = 2, name: str = "x", on: bool = True):
        scaled(first(n=n), C=C)

    @loopml.pipeline
    def untyped(C=1.0):
        scaled(first(n=2), C=C)
    """
)


@pytest.mark.parametrize(
    ("target", "param", "says"),
    [
        ("typed", "C=abc", "--param C=abc: 'C' is float, and 'abc' is not one"),
        ("typed", "n=2.5", "--param n=2.5: 'n' is int, and '2.5' is not one"),
        ("typed", "on=maybe", "--param on=maybe: 'on' is bool, and 'maybe' is not one"),
        ("untyped", "C=abc", "step 'scaled', parameter 'C' expects float, got 'abc' (str)"),
    ],
)
def test_pipeline_params_are_checked_before_any_step_runs(
    tmp_path: Path, target: str, param: str, says: str
) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    assert cli("init", cwd=tmp_path).returncode == 0
    done = cli("pipeline", "run", f"flow.py:{target}", "--param", param, cwd=tmp_path)
    assert says in _one_line_error(done)
    assert not (tmp_path / "ran").exists()


def test_pipeline_params_are_converted(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    assert cli("init", cwd=tmp_path).returncode == 0
    args = ["-p", "C=2", "-p", "n=3", "-p", "name=007", "-p", "on=false", "--json"]
    done = cli("pipeline", "run", "flow.py:typed", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "FINISHED"
    run = loopml.get_run(json.loads(done.stdout)["id"], workspace=Workspace.open(tmp_path))
    assert run.params == {"C": "2.0", "n": "3", "name": "007", "on": "False"}


def test_an_alert_rule_on_an_unknown_column_is_reported(deployed) -> None:  # noqa: F811
    workspace, model, features = deployed
    (workspace.config.root / "loopml.yaml").write_text(
        "alerts:\n"
        "  - {name: typo, deployment: iris-api, when: column_drift, column: petal_widht}\n"
        "  - {name: holes, deployment: iris-api, when: null_share_above, column: age,\n"
        "     threshold: 0.1}\n"
        "  - {name: every, deployment: '*', when: column_drift, column: amount}\n"
        "  - {name: fine, deployment: iris-api, when: column_drift, column: petal_width}\n"
    )
    log_traffic(workspace, model, features.sample(100, random_state=0))
    report = loopml.monitoring.check("iris-api", workspace=workspace)
    found = {f.column: f.message for f in report.quality if f.kind == UNKNOWN_ALERT_COLUMN}
    assert set(found) == {"petal_widht", "age"}  # not the '*' rule, not the good one
    assert found["petal_widht"].startswith(
        "alert rule 'typo' (column_drift) names column 'petal_widht', which iris-api does "
        "not have, so it is never evaluated; its columns: "
    )
    assert "petal_width" in found["petal_widht"]
    stored = workspace.store.monitoring.get(report.id)
    assert {f.column for f in stored.quality if f.kind == UNKNOWN_ALERT_COLUMN} == set(found)
    shown = cli("monitor", "iris-api", cwd=workspace.config.root)
    assert shown.returncode == 0 and "'petal_widht'" in shown.stdout, shown.stderr


def test_order_by_parsing_keeps_quoted_keys_with_spaces() -> None:
    from loopml.core.errors import InvalidArgumentError
    from loopml.store.filters import parse_order_by

    [clause] = parse_order_by(["metrics.`my key` DESC"])
    assert (clause.field.key, clause.descending) == ("my key", True)
    with pytest.raises(InvalidArgumentError, match="got 'key'"):
        parse_order_by(["metrics.my key"])
