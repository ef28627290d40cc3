"""`loopml gc`: apply retention, then free the blobs nothing refers to any more.

In order: runs deleted longer ago than `older_than` are purged (with what they logged); each
deployment's predictions older than its `retention:` in loopml.yaml are deleted with their
labels; then the content-addressed store is collected (see `loopml.artifacts.gc`), with a grace
period that keeps whatever was written recently (a run in progress may have uploaded a blob it
has not recorded yet).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from loopml.artifacts import gc
from loopml.artifacts.cas import ContentStore
from loopml.core.auth import local_actor
from loopml.core.errors import InvalidArgumentError
from loopml.core.project_config import ProjectConfig, load_project_config
from loopml.workspace import Workspace

DEFAULT_RUN_RETENTION = 30 * 86400.0  # soft-deleted runs are kept this long
DEFAULT_GRACE = 3600.0  # blobs written this recently are never collected


@dataclasses.dataclass(frozen=True, slots=True)
class GcReport:
    purged_runs: tuple[str, ...]
    expired_predictions: dict[str, int]  # deployment -> predictions deleted
    blobs_deleted: int
    bytes_freed: int
    blobs_kept: int
    blobs_young: int  # unreferenced, kept by the grace period
    dry_run: bool


def collect_garbage(
    ws: Workspace,
    *,
    older_than: float = DEFAULT_RUN_RETENTION,
    grace: float = DEFAULT_GRACE,
    dry_run: bool = False,
    config: ProjectConfig | None = None,
) -> GcReport:
    """Purge, expire and collect (with `dry_run`, only count: runs and predictions that
    would go; blobs are counted as the metadata stands now, before any purge)."""
    if older_than < 0 or grace < 0:
        raise InvalidArgumentError("retention and grace periods cannot be negative")
    cas = ws.artifacts
    if not isinstance(cas, ContentStore):
        raise InvalidArgumentError(
            "loopml gc needs the artifact store itself (a folder or s3://); this workspace "
            "reaches it through a loopml server: run gc on the server's host"
        )
    config = config or load_project_config(ws.config.project_root)
    now = datetime.now(UTC)
    purged = _purge_runs(ws, now - timedelta(seconds=older_than), dry_run)
    expired = expire_predictions(ws, config, now=now, dry_run=dry_run)
    blobs = gc.collect(
        cas, ws.store.retention.referenced_digests, grace_seconds=grace, dry_run=dry_run
    )
    return GcReport(
        tuple(purged), expired, blobs.deleted, blobs.bytes_freed, blobs.kept, blobs.young,
        dry_run,
    )  # fmt: skip


def expire_predictions(
    ws: Workspace, config: ProjectConfig, *, now: datetime | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Delete each deployment's predictions (with labels) older than its `retention:`;
    deployment -> how many went (or would, with `dry_run`). The controller calls it too."""
    now = now or datetime.now(UTC)
    return {
        deployment: _expire(ws, deployment, now - timedelta(seconds=seconds), dry_run)
        for deployment, seconds in sorted(config.retention.items())
    }


def _purge_runs(ws: Workspace, before: datetime, dry_run: bool) -> list[str]:
    if not dry_run:
        return ws.store.runs.purge(before, actor=local_actor())
    found: list[str] = []
    token: str | None = None
    for _ in range(100_000):  # pages of 1,000: bounded
        page = ws.store.runs.search(None, None, None, 1000, token, view="deleted")
        found += [r.id for r in page if r.deleted_time is not None and r.deleted_time < before]
        token = page.next_page_token
        if token is None:
            break
    return found


def _expire(ws: Workspace, deployment: str, before: datetime, dry_run: bool) -> int:
    if not dry_run:
        return ws.store.predictions.delete_before(deployment, before, actor=local_actor())
    return len(ws.store.predictions.query(deployment=deployment, until=before, limit=1_000_000))


@dataclasses.dataclass(frozen=True, slots=True)
class ForgetReport:
    deployment: str
    column: str
    predictions: int
    labels: int
    feedback_datasets: tuple[str, ...]  # NAME@VERSION built from this deployment's rows


def forget(
    ws: Workspace, deployment: str, column: str, value: str | int | float | bool
) -> ForgetReport:
    """Delete a deployment's predictions (and labels) whose feature `column` equals `value`,
    and name the feedback datasets built from its rows: copies the store cannot reach into,
    for the caller to delete (`loopml data rm`) and rebuild."""
    ws.store.deployments.get(deployment)  # NotFoundError naming it
    counts = ws.store.predictions.forget(deployment, column, value, actor=local_actor())
    return ForgetReport(
        deployment, column, counts["predictions"], counts["labels"],
        tuple(_feedback_versions(ws, deployment)),
    )  # fmt: skip


def _feedback_versions(ws: Workspace, deployment: str) -> list[str]:
    from loopml.core.errors import NotFoundError
    from loopml.data.feedback import ACTION

    found = []
    for event in ws.store.audit.events(action=ACTION, limit=10_000):
        if event.details.get("deployment") != deployment:
            continue
        name, version = event.target.removeprefix("dataset:"), event.details.get("version")
        try:
            ws.store.datasets.get_version(name, int(version))  # type: ignore[arg-type]
        except (NotFoundError, TypeError, ValueError):
            continue  # deleted already
        found.append(f"{name}@{version}")
    return sorted(set(found))
