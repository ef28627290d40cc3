"""`loopml` starts quickly: a command imports what it needs and nothing more (issue 15.12).

Timings depend on the machine and its load, so these tests check what is imported (which is
what the time is spent on); `bench/tracking.py` (`runs ls`) and `bench/data.py` (re-adding an
unchanged folder) time the same commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import loopml
from loopml.cli.coercion import convert
from loopml.workspace import Workspace
from tests.cli.test_cli import cli

# Never needed to list runs or to re-add an unchanged folder.
HEAVY = ("pydantic", "pandas", "numpy", "pyarrow", "fsspec", "alembic", "sklearn", "scipy",
         "fastapi", "httpx", "plotly", "jinja2", "rich.progress", "loopml.cli.data",
         "loopml.cli.models", "loopml.cli.pipelines", "loopml.cli.deployments",
         "loopml.cli.monitor", "loopml.cli.loop", "loopml.cli.server")  # fmt: skip


def _imported(cwd: Path, *args: str) -> set[str]:
    """The modules a `loopml ARGS` process has loaded when the command is done."""
    code = (
        "import json, sys\n"
        f"sys.argv = ['loopml', *{list(args)!r}]\n"
        "from loopml.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print('\\nMODULES', json.dumps(sorted(sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.split("\nMODULES ", 1)[1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in HEAVY if m in modules)


def test_runs_ls_imports_only_what_it_needs(workspace: Workspace, tmp_path: Path) -> None:
    with loopml.start_run(project="p", workspace=workspace) as run:
        run.log_metric("acc", 0.9)
    listed = _imported(tmp_path, "runs", "ls", "-n", "5", "-o", "metrics.acc DESC")
    assert _heavy(listed) == [] and "rich" not in listed  # the table is printed without Rich
    assert _heavy(_imported(tmp_path, "runs", "ls", "--json")) == []


def test_readding_an_unchanged_folder_imports_only_what_it_needs(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    for i in range(20):
        (folder / f"f{i}.bin").write_bytes(os.urandom(256))
    assert cli("data", "add", "files", str(folder), cwd=tmp_path).returncode == 0
    readded = _imported(tmp_path, "data", "add", "files", str(folder))
    assert _heavy(readded) == ["loopml.cli.data"]  # the command's own module
    assert "rich" not in readded


def test_import_loopml_does_no_work(tmp_path: Path) -> None:
    code = "import sys, loopml; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    modules = set(done.stdout.split())
    assert not {"sqlalchemy", "typer", "rich", "pydantic", "pandas", "numpy"} & modules


def test_runs_ls_table_layout(workspace: Workspace, tmp_path: Path) -> None:
    for name, acc in (("a-rather-long-run-name-that-is-cut-short", 0.5), ("b", 0.25)):
        with loopml.start_run(project="p", name=name, workspace=workspace) as run:
            run.log_metric("acc", acc)
    done = cli("runs", "ls", "-o", "metrics.acc DESC", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header, first, second = done.stdout.splitlines()
    assert header.split() == ["id", "name", "status", "started", "duration", "acc"]
    assert header.startswith(" id        name ")  # a space, then 8 + 2 for the id column
    assert "a-rather-long-run-name-…" in first and "\x1b[" not in done.stdout  # no colour piped
    assert first.split()[2:3] == ["FINISHED"] and second.split()[-1] == "0.25"
    assert len({line.index("FINISHED") for line in (first, second)}) == 1  # aligned


def test_help_still_lists_every_command(tmp_path: Path) -> None:
    done = cli("--help", cwd=tmp_path)
    assert done.returncode == 0
    for name in ("runs", "data", "pipeline", "lineage", "models", "deployments", "serve",
                 "predict", "monitor", "loop", "server", "init", "demo", "ui"):  # fmt: skip
        assert f" {name} " in done.stdout, name


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [("5", int, 5), (" 7 ", int, 7), ("0.5", float, 0.5), ("1e-3", float, 0.001),
     ("x y", str, "x y"), ("a/b", Path, Path("a/b")), ("yes", bool, True), ("off", bool, False),
     (3, int, 3), (2, float, 2.0)],
)  # fmt: skip
def test_plain_values_convert(value: object, kind: type, expected: object) -> None:
    assert convert(value, kind) == expected and isinstance(convert(value, kind), kind)


@pytest.mark.parametrize(("value", "kind"), [("abc", int), ("2.5", int), ("x", float),
                                             ("maybe", bool)])  # fmt: skip
def test_bad_values_are_refused(value: str, kind: type) -> None:
    with pytest.raises(ValueError, match="is not a valid"):
        convert(value, kind)


def test_a_bad_option_value_is_a_usage_error(workspace: Workspace, tmp_path: Path) -> None:
    done = cli("runs", "ls", "-n", "abc", cwd=tmp_path)
    assert done.returncode == 2 and "'abc' is not a valid integer" in done.stderr
    listed = cli("runs", "ls", "-n", "3", "--json", "-p", "nope", cwd=tmp_path)
    assert listed.returncode == 1 and "project 'nope' not found" in listed.stderr
