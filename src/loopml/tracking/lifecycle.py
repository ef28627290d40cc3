"""Resuming, describing, deleting and restoring runs (the parts of a run's life after it was
first started)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopml.core.auth import local_actor
from loopml.core.entities import Run, RunStatus
from loopml.core.errors import ConflictError, InvalidArgumentError
from loopml.workspace import Workspace


def parent_project(ws: Workspace, parent: Any) -> str | None:
    """The project of a parent run (an ActiveRun or an id), which a child started without a
    project of its own goes to."""
    if parent is None:
        return None
    project = getattr(parent, "project", None)
    if isinstance(project, str):
        return project
    return ws.store.runs.get(str(parent)).project


def reopen(
    ws: Workspace,
    run_id: str,
    *,
    project: str | None,
    name: str | None,
    tags: Mapping[str, str],
    description: str | None,
) -> Run:
    """Make a stored run RUNNING again (whatever its status), for `start_run(run_id=...)`."""
    record = ws.store.runs.get(run_id)  # NotFoundError names the id
    if record.deleted_time is not None:
        raise ConflictError(
            f"run {run_id} is deleted; restore it first (loopml runs restore {run_id})"
        )
    if project is not None and project != record.project:
        raise InvalidArgumentError(
            f"run {run_id} belongs to project {record.project!r}, not {project!r}"
        )
    if name is not None and name != record.name:
        raise InvalidArgumentError(f"run {run_id} is named {record.name!r}, not {name!r}")
    if tags:
        ws.store.runs.set_tags(run_id, tags)
    if description is not None:
        ws.store.runs.set_description(run_id, description)
    return ws.store.runs.set_status(run_id, RunStatus.RUNNING)


def next_steps(ws: Workspace, record: Run) -> dict[str, int]:
    """The step each of a resumed run's metrics continues from (one past its last)."""
    steps = {}
    for key in record.metrics:
        history = ws.store.runs.metric_history(record.id, key)
        if history:
            steps[key] = max(point.step for point in history) + 1
    return steps


def delete_run(ws: Workspace, run_id: str) -> Run:
    return ws.store.runs.delete(run_id, actor=local_actor())


def restore_run(ws: Workspace, run_id: str) -> Run:
    return ws.store.runs.restore(run_id, actor=local_actor())
