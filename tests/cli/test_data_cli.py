"""`loopml data ...` as users run it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from loopml.workspace import Workspace
from tests.cli.test_cli import cli


@pytest.fixture
def tx_csv(workspace: Workspace, tmp_path: Path) -> Path:
    path = tmp_path / "tx.csv"
    frame = pd.DataFrame({"amount": [float(i) for i in range(40)], "kind": ["a", "b"] * 20})
    frame.to_csv(path, index=False)
    return path


def test_add_ls_show(tx_csv: Path, tmp_path: Path) -> None:
    added = cli("data", "add", "tx", str(tx_csv), cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "added tx@1" in added.stdout
    again = cli("data", "add", "tx", str(tx_csv), "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["created"] is False
    listed = json.loads(cli("data", "ls", "--json", cwd=tmp_path).stdout)
    assert [(d["name"], d["version"]) for d in listed["datasets"]] == [("tx", 1)]
    shown = cli("data", "show", "tx@1", cwd=tmp_path)
    assert shown.returncode == 0 and "amount" in shown.stdout and "40 rows" in shown.stdout
    as_json = json.loads(cli("data", "show", "tx", "--json", cwd=tmp_path).stdout)
    assert as_json["version"]["profile"]["rows"] == 40


def test_validate_exit_codes(tx_csv: Path, tmp_path: Path) -> None:
    cli("data", "add", "tx", str(tx_csv), cwd=tmp_path)
    good = cli("data", "validate", "tx", str(tx_csv), cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"kind": ["a", "zz"]}).to_csv(bad, index=False)
    failed = cli("data", "validate", "tx", str(bad), cwd=tmp_path)
    assert failed.returncode == 1
    assert "missing_column" in failed.stdout and "amount" in failed.stdout
    report = json.loads(cli("data", "validate", "tx", str(bad), "--json", cwd=tmp_path).stdout)
    assert report["ok"] is False


def test_pinned_schema_loosens_rules(tx_csv: Path, tmp_path: Path) -> None:
    cli("data", "add", "tx", str(tx_csv), cwd=tmp_path)
    printed = cli("data", "schema", "tx", cwd=tmp_path)
    assert printed.returncode == 0 and "amount" in printed.stdout
    pinned = tmp_path / "schema.yaml"
    pinned.write_text(printed.stdout)
    data = tmp_path / "more.csv"
    pd.DataFrame({"amount": [None, 1.0], "kind": ["a", "b"]}).to_csv(data, index=False)
    strict = cli("data", "validate", "tx", str(data), "--schema", str(pinned), cwd=tmp_path)
    assert strict.returncode == 1 and "nulls" in strict.stdout
    import yaml

    doc = yaml.safe_load(pinned.read_text())
    text = pinned.read_text()
    assert doc is not None
    pinned.write_text(text.replace("nullable: false", "nullable: true", 1))
    loose = cli("data", "validate", "tx", str(data), "--schema", str(pinned), cwd=tmp_path)
    assert loose.returncode == 0, loose.stdout + loose.stderr


def test_get_and_diff(tx_csv: Path, tmp_path: Path) -> None:
    cli("data", "add", "tx", str(tx_csv), cwd=tmp_path)
    pd.DataFrame({"amount": [100.0] * 40, "kind": ["a"] * 40}).to_csv(tx_csv, index=False)
    cli("data", "add", "tx", str(tx_csv), cwd=tmp_path)
    out = tmp_path / "restored"
    got = cli("data", "get", "tx@1", str(out), cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert pd.read_csv(out / "tx.csv")["amount"].max() == 39.0
    diff = cli("data", "diff", "tx", "1", "2", cwd=tmp_path)
    assert diff.returncode == 0 and "~ tx.csv" in diff.stdout and "amount" in diff.stdout


def test_errors_are_one_line(workspace: Workspace, tmp_path: Path) -> None:
    missing = cli("data", "add", "tx", str(tmp_path / "nope.csv"), cwd=tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    unknown = cli("data", "show", "ghost", cwd=tmp_path)
    assert unknown.returncode == 1 and "'ghost' not found" in unknown.stderr
    assert "Traceback" not in missing.stderr + unknown.stderr
