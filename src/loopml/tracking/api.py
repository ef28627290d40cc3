"""The tracking functions that `loopml` re-exports: start and find runs, read what they logged."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loopml.artifacts import objects
from loopml.core import context
from loopml.core.entities import Metric, Run
from loopml.core.names import validate_key, validate_project_name
from loopml.store.base import RunPage, RunView
from loopml.tracking import lifecycle, spool
from loopml.tracking.capture import capture_code, capture_environment
from loopml.tracking.run import ActiveRun
from loopml.tracking.system_metrics import check_system_metrics
from loopml.workspace import Workspace

DEFAULT_PROJECT = "default"
_YES = ("1", "true", "yes", "on")


def _workspace(workspace: Workspace | None, *, create: bool = False) -> Workspace:
    return workspace or Workspace.current(create=create)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def start_run(
    project: str | None = None,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    parent: ActiveRun | str | None = None,
    workspace: Workspace | None = None,
    log_system_metrics: bool | None = None,
    system_metrics_interval: float = 10.0,
    run_id: str | None = None,
    description: str | None = None,
) -> ActiveRun:
    """Start a run: use it as `with start_run(...) as run:`, or call `run.end()` yourself.

    A run started while another is active in this context becomes its child unless `parent`
    says otherwise. Git commit, uncommitted diff, Python and installed packages are recorded.
    `log_system_metrics` (default: LOOPML_SYSTEM_METRICS=1) samples CPU, memory, disk,
    network and GPUs as `system/...` metrics every `system_metrics_interval` seconds.
    A child started without `project` goes to its parent's project. `run_id` resumes a
    stored run (RUNNING again; metrics continue from their last step); `description` holds
    notes about the run.
    """
    if project is not None:
        validate_project_name(project)
    clean_tags = {validate_key(k, "tag key"): str(v) for k, v in (tags or {}).items()}
    if log_system_metrics is None:
        log_system_metrics = os.environ.get("LOOPML_SYSTEM_METRICS", "").lower() in _YES
    if log_system_metrics:  # refused before the run exists: a bad interval, no psutil
        check_system_metrics(system_metrics_interval)
    ws = _workspace(workspace, create=True)
    spool.replay(ws)  # endings of earlier runs that could not reach the store
    if run_id is not None:
        record = lifecycle.reopen(ws, run_id, project=project, name=name, tags=clean_tags,
                                  description=description)  # fmt: skip
        return _activate(ActiveRun(ws, record, next_steps=lifecycle.next_steps(ws, record)),
                         log_system_metrics, system_metrics_interval)  # fmt: skip
    code, env = capture_code(), capture_environment()
    env_digest = ws.artifacts.put_bytes(env.packages)
    parent = parent if parent is not None else context.current_run()
    project = project or lifecycle.parent_project(ws, parent) or os.environ.get("LOOPML_PROJECT")
    record = ws.store.runs.create(
        validate_project_name(project or DEFAULT_PROJECT),
        name,
        tags=clean_tags,
        user=_user(),
        parent_run_id=parent.id if isinstance(parent, ActiveRun) else parent,
        code=code.version_with_diff(ws.artifacts),
        python_version=env.python_version,
        env_digest=env_digest,
        description=description,
    )
    return _activate(ActiveRun(ws, record), log_system_metrics, system_metrics_interval)


def _activate(run: ActiveRun, system_metrics: bool, interval: float) -> ActiveRun:
    context.push_run(run)
    if system_metrics:
        run.log_system_metrics(interval)
    return run


def current_run() -> ActiveRun | None:
    return context.current_run()


def get_run(run_id: str, *, workspace: Workspace | None = None) -> Run:
    return _workspace(workspace).store.runs.get(run_id)


def search_runs(
    project: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | str | None = None,
    limit: int = 100,
    page_token: str | None = None,
    *,
    view: RunView = "active",
    workspace: Workspace | None = None,
) -> RunPage:
    """Runs matching `filter`, e.g. ``metrics.acc > 0.9 and params.C = '1.0'``, in SQL;
    `view="deleted"` or `"all"` shows deleted runs."""
    projects = [project] if isinstance(project, str) else project
    order = [order_by] if isinstance(order_by, str) else order_by
    runs = _workspace(workspace).store.runs
    return runs.search(projects, filter, order, limit, page_token, view=view)


def delete_run(run_id: str, *, workspace: Workspace | None = None) -> Run:
    """Soft-delete a run: hidden from search_runs, restorable until `loopml gc` purges it."""
    return lifecycle.delete_run(_workspace(workspace), run_id)


def restore_run(run_id: str, *, workspace: Workspace | None = None) -> Run:
    return lifecycle.restore_run(_workspace(workspace), run_id)


def get_metric_history(
    run_id: str, key: str, *, workspace: Workspace | None = None
) -> list[Metric]:
    return _workspace(workspace).store.runs.metric_history(run_id, key)


def load_artifact(run_id: str, name: str, *, workspace: Workspace | None = None) -> Any:
    """The object logged under `name` (a file as bytes, a folder as {path: bytes}), verified."""
    ws = _workspace(workspace)
    ref = ws.store.runs.get_artifact(run_id, name)
    stored = objects.Stored(ref.digest, ref.serializer, ref.size)
    return objects.load(ws.artifacts, stored, what=f"artifact {name!r} of run {run_id}")


def download_artifact(
    run_id: str, name: str, dest: str | os.PathLike[str], *, workspace: Workspace | None = None
) -> Path:
    """Write an artifact (file, folder, or an object's stored bytes) to `dest`, verified."""
    ws = _workspace(workspace)
    ref = ws.store.runs.get_artifact(run_id, name)
    stored = objects.Stored(ref.digest, ref.serializer, ref.size)
    return objects.write_out(
        ws.artifacts, stored, Path(dest), what=f"artifact {name!r} of run {run_id}"
    )
