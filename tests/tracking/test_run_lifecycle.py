"""Resuming, nesting, describing, deleting and restoring runs through the public API."""

from __future__ import annotations

import pytest

import loopml
from loopml.core.entities import RunStatus
from loopml.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.workspace import Workspace


@pytest.mark.parametrize("ending", ["FINISHED", "FAILED", "KILLED", "RUNNING"])
def test_resume_continues_a_run(workspace: Workspace, ending: str) -> None:
    run = loopml.start_run(project="p", name="train")
    run.log_metric("loss", 1.0)
    run.log_metric("loss", 0.8)
    run.log_param("lr", 0.1)
    run.flush()
    if ending != "RUNNING":
        run.end(ending)
    with loopml.start_run(run_id=run.id) as again:
        assert again.id == run.id and again.project == "p"
        assert loopml.get_run(run.id).status is RunStatus.RUNNING
        assert loopml.get_run(run.id).end_time is None
        again.log_metric("loss", 0.5)  # the next step after the last
    history = loopml.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.8), (2, 0.5)]
    stored = loopml.get_run(run.id)
    assert stored.status is RunStatus.FINISHED and stored.params == {"lr": "0.1"}
    assert stored.end_time is not None
    run.end()  # the first handle (still open when resumed RUNNING) leaves the context
    assert loopml.current_run() is None


def test_resume_refuses_unknown_deleted_and_other_project(workspace: Workspace) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        loopml.start_run(run_id="nope")
    with loopml.start_run(project="p") as run:
        pass
    with pytest.raises(InvalidArgumentError, match="belongs to project 'p'"):
        loopml.start_run(project="q", run_id=run.id)
    loopml.delete_run(run.id)
    with pytest.raises(ConflictError, match="deleted; restore it first"):
        loopml.start_run(run_id=run.id)
    assert loopml.get_run(run.id).status is RunStatus.FINISHED  # untouched
    loopml.restore_run(run.id)
    with loopml.start_run(run_id=run.id, description="second pass"):
        pass
    assert loopml.get_run(run.id).description == "second pass"


def test_nested_run_inherits_parent_project(workspace: Workspace) -> None:
    with loopml.start_run(project="vision") as parent:
        with loopml.start_run(name="child") as child:
            assert child.project == "vision"
        with loopml.start_run(project="other") as explicit:
            assert explicit.project == "other"
    assert loopml.get_run(child.id).parent_run_id == parent.id
    with loopml.start_run(parent=parent.id) as by_id:
        assert by_id.project == "vision"


def test_description(workspace: Workspace) -> None:
    with loopml.start_run(description="baseline, default params") as run:
        assert loopml.get_run(run.id).description == "baseline, default params"
        run.set_description("notes: overfits after epoch 3")
    assert loopml.get_run(run.id).description == "notes: overfits after epoch 3"


def test_delete_and_restore(workspace: Workspace) -> None:
    with loopml.start_run(project="p") as kept:
        pass
    with loopml.start_run(project="p") as gone:
        pass
    assert loopml.delete_run(gone.id).deleted_time is not None
    assert [r.id for r in loopml.search_runs("p")] == [kept.id]
    assert [r.id for r in loopml.search_runs("p", view="deleted")] == [gone.id]
    loopml.restore_run(gone.id)
    assert {r.id for r in loopml.search_runs("p")} == {kept.id, gone.id}
    actions = [e.action for e in workspace.store.audit.events(target=f"run:{gone.id}")]
    assert actions == ["run.restore", "run.delete"]
