"""Served predictions plus their /feedback labels as a versioned dataset: the data a retrain
learns from, closing the loop without user glue.

    v = loopml.datasets.from_feedback("iris-api", since=datetime(2024, 5, 1, tzinfo=UTC))
    frame = loopml.datasets.load(v.name)   # features, prediction, label, ids, times

The predictions are read page by page (oldest first), written as one Parquet file and added
as `datasets.add` adds a file: content-addressed, so the same rows make no new version. A new
version is what a `new_data` trigger on the dataset fires on.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loopml.core import context
from loopml.core.auth import local_actor
from loopml.core.datasets import DatasetVersion
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.serving import Prediction, RouteMode
from loopml.data import versions
from loopml.data.feedback_table import FeedbackRows
from loopml.store.base import PredictionStore
from loopml.workspace import Workspace

PAGE = 10_000  # predictions per store query (a remote store sends each page as one answer)
MAX_PAGE = 1_000_000  # the most one query returns (the SQL store's cap)
FILE_NAME = "feedback.parquet"  # one name whatever the dataset, so equal rows hash equal
ACTION = "dataset.from_feedback"


@dataclasses.dataclass(frozen=True, slots=True)
class FeedbackSource:
    """Where a feedback dataset's rows came from (recorded in the audit trail)."""

    deployment: str
    since: datetime | None
    until: datetime | None
    labelled_only: bool
    include_shadow: bool
    rows: int


@dataclasses.dataclass(frozen=True, slots=True)
class FeedbackVersion:
    version: DatasetVersion
    source: FeedbackSource


def default_name(deployment: str) -> str:
    return f"{deployment}-feedback"


def build(
    ws: Workspace,
    deployment: str,
    name: str | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    labelled_only: bool = True,
    include_shadow: bool = False,
) -> FeedbackVersion:
    """Gather the window's predictions into a dataset version (or find it unchanged)."""
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise InvalidArgumentError(f"since ({since.isoformat()}) must be before until "
                                   f"({until.isoformat()})")  # fmt: skip
    rows = FeedbackRows()
    for page in _pages(ws.store.predictions, deployment, since, until, labelled_only):
        rows.extend(p for p in page if include_shadow or p.route is not RouteMode.SHADOW)
    source = FeedbackSource(deployment, since, until, labelled_only, include_shadow, len(rows))
    if not rows:
        raise NotFoundError(_nothing(source))
    record = _add(ws, name or default_name(deployment), rows.table(deployment))
    if record.created:
        details = {**_jsonable(source), "version": record.version, "digest": record.digest}
        ws.store.audit.record(local_actor(), ACTION, f"dataset:{record.name}", details)
    return FeedbackVersion(record, source)


def _utc(when: datetime | None) -> datetime | None:
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def _nothing(source: FeedbackSource) -> str:
    kind = "labelled predictions" if source.labelled_only else "predictions"
    start = source.since.isoformat() if source.since else "the first"
    end = source.until.isoformat() if source.until else "now"
    return f"no {kind} of deployment {source.deployment!r} from {start} to {end}"


def _pages(
    store: PredictionStore,
    deployment: str,
    since: datetime | None,
    until: datetime | None,
    labelled_only: bool,
    page: int = PAGE,
) -> Iterator[list[Prediction]]:
    """Every prediction in [since, until) once, oldest first, `page` per query. The store's
    order is (time, insertion), so the next page starts at the last time seen, skipping the
    ids already returned at that time (and anything older, whatever a clock rounding did)."""
    cursor, seen, limit = since, set[str](), page
    while True:
        found = store.query(deployment=deployment, since=cursor, until=until,
                            labeled=labelled_only, limit=limit)  # fmt: skip
        fresh = [p for p in found if _after(p, cursor, seen)]
        if fresh:
            yield fresh
        if len(found) < limit:
            return
        last = found[-1].time
        if cursor is not None and last <= cursor:  # a page all at one millisecond: widen it
            if limit >= MAX_PAGE:
                raise InvalidArgumentError(f"more than {MAX_PAGE} predictions at {last}")
            seen |= {p.id for p in fresh}
            limit *= 2
            continue
        cursor, seen, limit = last, {p.id for p in found if p.time == last}, page


def _after(p: Prediction, cursor: datetime | None, seen: set[str]) -> bool:
    if cursor is None or p.time > cursor:
        return True
    return p.time == cursor and p.id not in seen


def _add(ws: Workspace, name: str, table: Any) -> DatasetVersion:
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="loopml-feedback-") as tmp:
        path = Path(tmp) / FILE_NAME
        pq.write_table(table, path)
        return versions.add_version(ws, name, path, producer_run_id=context.current_run_id())


def _jsonable(source: FeedbackSource) -> dict[str, Any]:
    out = dataclasses.asdict(source)
    for key in ("since", "until"):
        out[key] = out[key].isoformat() if out[key] is not None else None
    return out


def source_of(ws: Workspace, name: str, version: int) -> dict[str, Any] | None:
    """The recorded source (deployment, window, rows) of a feedback dataset's version."""
    for event in ws.store.audit.events(target=f"dataset:{name}", action=ACTION, limit=1000):
        if event.details.get("version") == version:
            return dict(event.details)
    return None
