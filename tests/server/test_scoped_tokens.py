"""Issue 14.7: tokens scoped to one project, through a real server and the public API.

`projects` sent as a string is refused (a str is a Sequence[str]: "ab" would search projects
"a" and "b" behind a check on "ab"); a scoped editor starts and logs runs in its project; a
scoped viewer lists its project's runs; the stale-run sweep a client makes as it opens a
workspace touches only the projects the token may edit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

import loopml
from loopml.core.auth import Role
from loopml.core.config import resolve_config
from loopml.core.errors import InvalidArgumentError, PermissionDeniedError
from loopml.core.ids import now_ms
from loopml.store import rpc
from loopml.store.remote import RemoteMetadataStore
from loopml.store.sql import schema as t
from loopml.workspace import Workspace

pytestmark = pytest.mark.security


def _client(folder: Path, url: str, token: str) -> Workspace:
    Workspace.init(folder).close()  # caches only; the stores are the server's
    env = {"LOOPML_SERVER_URI": url, "LOOPML_TOKEN": token}
    return Workspace.from_config(resolve_config(folder, env))


def _age(workspace: Workspace, run_id: str, seconds: float) -> None:
    """Make a run's heartbeat `seconds` old, as if its process had died then."""
    query = t.runs.update().where(t.runs.c.id == run_id)
    with workspace.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(query.values(heartbeat_ms=now_ms() - int(seconds * 1000)))


def test_projects_as_a_string_is_refused(served) -> None:
    server, workspace = served
    for project in ("a", "b", "ab"):
        workspace.store.runs.create(project, f"run-in-{project}")
    token = workspace.store.auth.create_token("eve", role=Role.VIEWER, project="ab")
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(f"{server.url}/api/v1/runs/search",
                          json={"kwargs": {"projects": "ab"}}, headers=headers)  # fmt: skip
    assert response.status_code == 400, response.text
    assert "projects" in response.json()["error"]["message"]
    listed = httpx.post(f"{server.url}/api/v1/runs/search",
                        json={"kwargs": {"projects": ["ab"]}}, headers=headers)  # fmt: skip
    assert [r["name"] for r in listed.json()["result"]["$page"]] == ["run-in-ab"]


def test_bind_takes_lists_and_tuples_only_where_a_sequence_is_expected() -> None:
    assert rpc.bind("runs", "search", {"projects": ["a"]})["projects"] == ["a"]
    assert rpc.bind("runs", "search", {"projects": ("a",)})["projects"] == ("a",)
    for value in ("ab", b"ab"):
        with pytest.raises(InvalidArgumentError, match="projects"):
            rpc.bind("runs", "search", {"projects": value})
    with pytest.raises(InvalidArgumentError, match="run_ids"):
        rpc.bind("runs", "heartbeat", {"run_ids": "0123"})


def test_an_editor_of_one_project_logs_a_run_in_it(served, tmp_path: Path) -> None:
    server, workspace = served
    token = workspace.store.auth.create_token("ann", role=Role.EDITOR, project="a")
    laptop = _client(tmp_path / "laptop", server.url, token)
    try:
        with loopml.start_run(project="a", name="mine", workspace=laptop) as run:
            run.log_params({"C": 1.0})
            run.log_metric("acc", 0.9)
            run.set_tag("team", "ml")
            run.log_artifact("notes", b"hello")
        stored = workspace.store.runs.get(run.id)
        assert stored.status == "FINISHED" and stored.metrics == {"acc": 0.9}
        assert loopml.load_artifact(run.id, "notes", workspace=laptop) == b"hello"
        with pytest.raises(PermissionDeniedError):
            loopml.start_run(project="b", workspace=laptop)
    finally:
        laptop.close()


def test_a_viewer_of_one_project_lists_its_runs(served, tmp_path: Path) -> None:
    server, workspace = served
    mine = workspace.store.runs.create("a", "mine")
    workspace.store.runs.create("b", "theirs")
    token = workspace.store.auth.create_token("bob", role=Role.VIEWER, project="a")
    reader = _client(tmp_path / "reader", server.url, token)
    try:
        assert [r.id for r in loopml.search_runs(project="a", workspace=reader)] == [mine.id]
        assert loopml.get_run(mine.id, workspace=reader).name == "mine"
        with pytest.raises(PermissionDeniedError):
            loopml.search_runs(project="b", workspace=reader)
        with pytest.raises(PermissionDeniedError):
            loopml.search_runs(workspace=reader)  # every project
    finally:
        reader.close()


def test_the_stale_sweep_of_a_scoped_token_stays_in_its_projects(served, tmp_path: Path) -> None:
    server, workspace = served
    ours = workspace.store.runs.create("a", "ours")
    theirs = workspace.store.runs.create("b", "theirs")
    for run in (ours, theirs):
        _age(workspace, run.id, 3600)  # both processes died an hour ago
    token = workspace.store.auth.create_token("ann", role=Role.EDITOR, project="a")
    laptop = _client(tmp_path / "laptop", server.url, token)  # opening sweeps stale runs
    try:
        assert workspace.store.runs.get(ours.id).status == "FAILED"
        assert workspace.store.runs.get(theirs.id).status == "RUNNING"  # not its project
        remote = RemoteMetadataStore(server.url, token)
        assert remote.runs.fail_stale(1.0) == []
        with pytest.raises(PermissionDeniedError):
            remote.runs.fail_stale(1.0, projects=["b"])
        assert workspace.store.runs.get(theirs.id).status == "RUNNING"
        viewer = RemoteMetadataStore(server.url, workspace.store.auth.create_token(
            "bob", role=Role.VIEWER, project="b"))  # fmt: skip
        assert viewer.runs.fail_stale(1.0) == []  # a viewer writes nothing, not even this
        assert workspace.store.runs.get(theirs.id).status == "RUNNING"
    finally:
        laptop.close()


def test_fail_stale_takes_projects_in_every_store(workspace: Workspace) -> None:
    a, b = workspace.store.runs.create("a", "r"), workspace.store.runs.create("b", "r")
    for run in (a, b):
        _age(workspace, run.id, 60)
    assert workspace.store.runs.fail_stale(30, projects=["a", "ghost"]) == [a.id]
    assert workspace.store.runs.get(b.id).status == "RUNNING"
    assert workspace.store.runs.fail_stale(30, projects=[]) == []
    assert workspace.store.runs.fail_stale(30) == [b.id]
    with workspace.store.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(sa.select(sa.func.count()).select_from(t.runs)).scalar() == 2
