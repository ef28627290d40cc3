"""Issue 14.10e: the folders loopml makes (the workspace's .loopml/, artifacts, caches, the
spool, the server's upload and download folders) are 0700 whatever the umask, here 000
(which would make them world-writable)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import loopml
from loopml.core.config import resolve_config
from loopml.core.dirs import make_dirs
from loopml.core.entities import RunStatus
from loopml.tracking import spool
from loopml.workspace import Workspace

pytestmark = pytest.mark.security


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_make_dirs_sets_the_mode_on_every_folder_it_creates(tmp_path: Path, open_umask) -> None:
    (tmp_path / "kept").mkdir(mode=0o755)
    made = make_dirs(tmp_path / "kept" / "a" / "b" / "c")
    for folder in (made, made.parent, made.parent.parent):
        assert _mode(folder) == 0o700, folder
    assert _mode(tmp_path / "kept") == 0o755  # not made here: left as it was
    assert make_dirs(made) == made  # existing: fine


def test_workspace_folders_are_private(tmp_path: Path, open_umask) -> None:
    root = tmp_path / "project"
    workspace = Workspace.init(root)
    try:
        with loopml.start_run(project="p", workspace=workspace) as run:
            run.log_artifact("weights", {"w": [1, 2, 3]})
            run.log_artifact("folder", _folder(tmp_path / "src"))
        loopml.download_artifact(run.id, "weights", tmp_path / "out" / "w.json",
                                 workspace=workspace)  # fmt: skip
        spool.keep(workspace, run.id, [], RunStatus.FINISHED, None)
    finally:
        workspace.close()
    meta = root / ".loopml"
    made = [meta, meta / "artifacts", meta / "cache", spool.folder(workspace)]
    made += [p for p in (meta / "artifacts").rglob("*") if p.is_dir()]
    made += [p for p in (meta / "cache").rglob("*") if p.is_dir()]
    assert len(made) > 6
    for folder in made:
        assert _mode(folder) == 0o700, folder


def test_a_client_without_a_workspace_folder_keeps_its_cache_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    Workspace.init(tmp_path / "server").close()
    env = {"LOOPML_STORE_URI": f"sqlite:///{tmp_path / 'server' / '.loopml' / 'loopml.db'}",
           "LOOPML_ARTIFACT_URI": str(tmp_path / "blobs")}  # fmt: skip
    workspace = Workspace.from_config(resolve_config(tmp_path / "elsewhere", env))
    try:
        assert workspace.root is None
        spool.keep(workspace, "0" * 32, [], RunStatus.FINISHED, None)
        workspace.artifacts.put_bytes(b"x")
    finally:
        workspace.close()
    for folder in (tmp_path / "home" / ".cache", tmp_path / "home" / ".cache" / "loopml",
                   spool.folder(workspace), tmp_path / "blobs"):  # fmt: skip
        assert _mode(folder) == 0o700, folder


def test_the_servers_upload_and_download_folders_are_private(
    served, admin_token: str, open_umask
) -> None:
    from loopml.store.remote import RemoteClient

    server, workspace = served
    from loopml.artifacts.remote import RemoteContentStore

    remote = RemoteContentStore(RemoteClient(server.url, admin_token))
    digest = remote.put_bytes(b"through the server")
    assert remote.get_bytes(digest) == b"through the server"
    for name in ("uploads", "downloads"):
        assert _mode(workspace.cache_dir / name) == 0o700


def _folder(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "f.txt").write_text("x")
    return path
