"""A workspace from environment variables still reads loopml.yaml (issue 15.4)."""

from __future__ import annotations

from pathlib import Path

from loopml.core.config import resolve_config
from loopml.core.project_config import load_project_config
from tests.cli.test_cli import cli

ALERTS = """\
alerts:
  - {name: petal, deployment: iris-api, when: column_drift, column: petal_width}
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "LOOPML_STORE_URI": f"sqlite:///{tmp_path / 'store' / 'loopml.db'}",
        "LOOPML_ARTIFACT_URI": str(tmp_path / "store" / "artifacts"),
    }


def test_loopml_yaml_found_walking_up_without_a_workspace_folder(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    (project / "loopml.yaml").write_text(ALERTS)
    config = resolve_config(project / "src" / "deep", _env(tmp_path))
    assert config.root is None and config.project_root == project
    assert [rule.name for rule in load_project_config(config.project_root).alerts] == ["petal"]
    assert resolve_config(tmp_path, _env(tmp_path)).project_root is None


def test_the_workspace_folder_stays_the_project_root(tmp_path: Path) -> None:
    (tmp_path / ".loopml").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "loopml.yaml").write_text(ALERTS)  # not the workspace's file
    config = resolve_config(tmp_path / "sub", _env(tmp_path))
    assert config.root == tmp_path and config.project_root == tmp_path


def test_cli_reads_loopml_yaml_with_the_store_from_the_environment(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "loopml.yaml").write_text("policies: {api: {model: m}}\n")  # no pipeline: an error
    done = cli("loop", "status", cwd=project, env=_env(tmp_path))
    assert done.returncode == 1, done.stdout
    assert str(project / "loopml.yaml") in done.stderr and "pipeline" in done.stderr
