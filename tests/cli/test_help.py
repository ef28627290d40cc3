"""`loopml --version`, and help that reads well: no `<bool>` or `<str>` beside options, no
sentence broken where the docstring's source line ended (issue 15.8)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from loopml.cli.main import command
from tests.cli.test_cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_version(tmp_path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for flag in ("--version", "-V"):
        done = cli(flag, cwd=tmp_path)
        assert done.returncode == 0 and done.stdout == f"loopml {version}\n", done.stderr


def _paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name in group.list_commands(None) if hasattr(group, "list_commands") else ():
        paths += _paths(group.get_command(None, name), (*prefix, name))
    return paths


PATHS = _paths(command())


def _help(args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        command()([*args, "--help"], prog_name="loopml")
    assert done.value.code in (0, None)
    return capsys.readouterr().out


def test_every_command_is_listed() -> None:
    top = {path[0] for path in PATHS if path}
    assert top >= {"init", "runs", "data", "pipeline", "lineage", "models", "deployments",
                   "serve", "predict", "monitor", "loop", "server", "demo", "ui"}  # fmt: skip
    assert ("server", "token", "ls") in PATHS and ("runs", "ls") in PATHS


@pytest.mark.parametrize("args", PATHS, ids=lambda p: " ".join(p) or "loopml")
def test_help_renders_without_types_or_broken_lines(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # wide: any line break left is in the text itself
    text = _help(args, capsys)
    assert "Usage: loopml" in text
    assert not re.search(r"<(bool|str|int|float|list\[\w+\]|Path)>", text), text
    target = command()
    for name in args:
        target = target.get_command(None, name)
    docs = [target.help or "", *(p.help or "" for p in target.params)]
    for doc in docs:
        for paragraph in doc.split("\n\n"):
            assert "\n" not in paragraph, paragraph  # reflowed: the terminal wraps
            first = paragraph.split(". ")[0]
            if first and "[" not in first:
                assert first in text.replace("\n", " ") or first[:60] in text, (args, first)


def test_a_long_command_summary_stays_one_sentence(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    text = _help((), capsys)
    [row] = [line for line in text.splitlines() if re.match(r"^\W*lineage\s", line)]
    assert "(or, with --down, what it fed): a prediction traces to its model version" in row
    flags = _help(("runs", "ls"), capsys)
    [json_row] = [line for line in flags.splitlines() if "--json" in line]
    assert re.search(r"--json\s+Print JSON\.", json_row), json_row
    [limit_row] = [line for line in flags.splitlines() if "--limit" in line]
    assert "INTEGER" in limit_row


def test_markup_characters_in_help_are_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    assert "NAME[@VERSION]" in _help(("data", "validate"), capsys)


def test_token_ls_shows_role_and_project(tmp_path: Path) -> None:
    import json

    assert cli("init", cwd=tmp_path).returncode == 0
    create = ("server", "token", "create")
    assert cli(*create, "--user", "ci", "--role", "editor", "--project", "nightly",
               cwd=tmp_path).returncode == 0  # fmt: skip
    assert cli(*create, "--user", "ops", "--role", "admin", cwd=tmp_path).returncode == 0
    assert cli(*create, "--user", "nobody", cwd=tmp_path).returncode == 0
    listed = json.loads(cli("server", "token", "ls", "--json", cwd=tmp_path).stdout)
    grants = {t["user"]: t["grants"] for t in listed}
    assert grants == {
        "ci": [{"role": "editor", "project": "nightly"}],
        "ops": [{"role": "admin", "project": "*"}],
        "nobody": [],
    }
    table = cli("server", "token", "ls", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    rows = {line.split()[3]: line for line in table.stdout.splitlines()
            if line.count("│") > 3 and line.split()[3] in grants}  # fmt: skip
    assert re.search(r"│ ci\s+│ editor\s+│ nightly\s+│", rows["ci"]), table.stdout
    assert re.search(r"│ ops\s+│ admin\s+│ \*\s+│", rows["ops"]), table.stdout
    assert re.search(r"│ nobody\s+│ -\s+│ -\s+│", rows["nobody"]), table.stdout
