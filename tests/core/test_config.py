from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.config import find_workspace_root, resolve_config
from loopml.core.errors import InvalidArgumentError, WorkspaceNotFoundError


def test_found_by_walking_up(tmp_path: Path) -> None:
    (tmp_path / ".loopml").mkdir()
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_workspace_root(nested) == tmp_path.resolve()
    config = resolve_config(nested, env={})
    assert config.root == tmp_path.resolve()
    assert config.store_uri == f"sqlite:///{tmp_path.resolve()}/.loopml/loopml.db"
    assert config.artifact_uri == (tmp_path / ".loopml" / "artifacts").resolve().as_uri()


def test_environment_overrides(tmp_path: Path) -> None:
    (tmp_path / ".loopml").mkdir()
    env = {
        "LOOPML_STORE_URI": "postgresql+psycopg://u@h/db",
        "LOOPML_ARTIFACT_URI": "s3://bucket/prefix",
        "LOOPML_TOKEN": "secret",
        "LOOPML_HEARTBEAT_TIMEOUT": "2.5",
    }
    config = resolve_config(tmp_path, env=env)
    assert config.store_uri == "postgresql+psycopg://u@h/db"
    assert config.artifact_uri == "s3://bucket/prefix"
    assert config.token == "secret" and config.heartbeat_timeout == 2.5


def test_no_workspace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFoundError, match="loopml init"):
        resolve_config(tmp_path, env={})
    with pytest.raises(WorkspaceNotFoundError, match="LOOPML_ARTIFACT_URI"):
        resolve_config(tmp_path, env={"LOOPML_STORE_URI": "sqlite:///x.db"})


@pytest.mark.parametrize("value", ["soon", "-1", "0"])
def test_bad_heartbeat_timeout(tmp_path: Path, value: str) -> None:
    (tmp_path / ".loopml").mkdir()
    with pytest.raises(InvalidArgumentError, match="LOOPML_HEARTBEAT_TIMEOUT"):
        resolve_config(tmp_path, env={"LOOPML_HEARTBEAT_TIMEOUT": value})
