"""Workspaces that are slow to build (a git repository, data, pipelines, models): built once
per test module in a folder of their own, then copied into each test's folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from loopml.workspace import Workspace

Build = Callable[[Workspace, Path], dict]


def build_once(factory: pytest.TempPathFactory, name: str, build: Build) -> tuple[Path, dict]:
    """Run `build` in a fresh workspace, isolated from the caller's LOOPML_ environment."""
    folder = factory.mktemp(name)
    with pytest.MonkeyPatch.context() as patch:
        for variable in [n for n in os.environ if n.startswith("LOOPML_")]:
            if variable != "LOOPML_TEST_POSTGRES_URI":
                patch.delenv(variable)
        patch.chdir(folder)
        workspace = Workspace.init(folder)
        try:
            return folder, build(workspace, folder)
        finally:
            workspace.close()


def copy_built(built: tuple[Path, dict], destination: Path) -> dict:
    """A copy of the built workspace (and whatever else its folder holds) in `destination`."""
    source, facts = built
    shutil.copytree(source, destination, dirs_exist_ok=True)
    return facts
