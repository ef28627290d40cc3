"""Issue 14.10c: a client with a short LOOPML_HEARTBEAT_TIMEOUT must not mark other clients'
live runs FAILED. Through the server the stale-run sweep waits at least the server's own
heartbeat timeout, whatever the client asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.auth import Role
from loopml.core.config import resolve_config
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import now_ms
from loopml.store.remote import RemoteMetadataStore
from loopml.store.sql import schema as t
from loopml.workspace import Workspace

pytestmark = pytest.mark.security


def _age(workspace: Workspace, run_id: str, seconds: float) -> None:
    query = t.runs.update().where(t.runs.c.id == run_id)
    with workspace.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(query.values(heartbeat_ms=now_ms() - int(seconds * 1000)))


def test_a_short_client_timeout_does_not_fail_live_runs(served, tmp_path: Path) -> None:
    server, workspace = served  # the server's own heartbeat timeout: the default, 120 s
    live = workspace.store.runs.create("p", "live")  # beats every 30 s; last beat 20 s ago
    dead = workspace.store.runs.create("p", "dead")
    _age(workspace, live.id, 20)
    _age(workspace, dead.id, 3600)
    token = workspace.store.auth.create_token("mallory", role=Role.EDITOR)
    Workspace.init(tmp_path / "hasty").close()
    env = {"LOOPML_SERVER_URI": server.url, "LOOPML_TOKEN": token,
           "LOOPML_HEARTBEAT_TIMEOUT": "0.01"}  # fmt: skip
    hasty = Workspace.from_config(resolve_config(tmp_path / "hasty", env))  # sweeps as it opens
    try:
        assert workspace.store.runs.get(live.id).status == "RUNNING"
        assert workspace.store.runs.get(dead.id).status == "FAILED"  # the server's timeout
        remote = RemoteMetadataStore(server.url, token)
        assert remote.runs.fail_stale(0.001) == []
        assert remote.runs.fail_stale(timeout_seconds=5) == []
        for bad in (0, -1, -4.4e16, float("nan")):
            with pytest.raises(InvalidArgumentError):
                remote.runs.fail_stale(bad)
        assert workspace.store.runs.get(live.id).status == "RUNNING"
        assert remote.runs.fail_stale(7200) == []  # a longer wait than the server's is kept
    finally:
        hasty.close()


def test_a_negative_timeout_is_refused_by_the_store(workspace: Workspace) -> None:
    run = workspace.store.runs.create("p", "r")
    for bad in (0, -1, float("nan")):
        with pytest.raises(InvalidArgumentError, match="positive"):
            workspace.store.runs.fail_stale(bad)
    assert workspace.store.runs.get(run.id).status == "RUNNING"
