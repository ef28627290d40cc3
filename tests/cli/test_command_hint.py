"""Hints name the `loopml` command as a shell here would run it (issue 15.3)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from loopml.core.command import loopml_command


@pytest.fixture
def venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake virtual environment: bin/python (the running interpreter) and bin/loopml."""
    bin_dir = tmp_path / "my env" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    script = bin_dir / "loopml"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    loopml_command.cache_clear()
    yield bin_dir
    loopml_command.cache_clear()


def test_the_full_path_when_loopml_is_not_on_path(
    venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert loopml_command() == f"'{venv / 'loopml'}'"  # quoted: the folder has a space


def test_plain_loopml_when_the_one_on_path_is_this_one(
    venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{venv}{os.pathsep}/usr/bin")
    assert loopml_command() == "loopml"


def test_another_loopml_on_path_is_not_trusted(
    venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "loopml").write_text("#!/bin/sh\n")
    (other / "loopml").chmod(0o755)
    monkeypatch.setenv("PATH", f"{other}{os.pathsep}/usr/bin")
    assert loopml_command() == f"'{venv / 'loopml'}'"


def test_python_m_loopml_without_a_script(venv: Path) -> None:
    (venv / "loopml").unlink()
    loopml_command.cache_clear()
    assert loopml_command() == f"'{venv / 'python'}' -m loopml"
