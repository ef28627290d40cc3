"""Where a model version came from: its run, that run's pipeline run, the dataset versions
upstream of it, and the code commit. Read from records the other layers already write."""

from __future__ import annotations

import dataclasses
from typing import Any

from loopml.core.entities import Run
from loopml.core.errors import NotFoundError
from loopml.core.models import ModelVersion
from loopml.core.pipelines import KIND_PIPELINE, TAG_KIND, TAG_PIPELINE


@dataclasses.dataclass(frozen=True)
class RunSummary:
    id: str
    name: str
    status: str
    project: str

    @classmethod
    def of(cls, run: Run, name: str | None = None) -> RunSummary:
        return cls(run.id, name or run.name, run.status.value, run.project)


@dataclasses.dataclass(frozen=True)
class DatasetUse:
    name: str
    version: int
    digest: str


@dataclasses.dataclass(frozen=True)
class ModelLineage:
    run_id: str | None  # as recorded on the version, even when that run is gone
    run: RunSummary | None
    pipeline_run: RunSummary | None  # when the run is a step of a pipeline run
    datasets: tuple[DatasetUse, ...]
    commit: str | None
    diff_digest: str | None  # digest of the uncommitted diff, when the tree was dirty


def model_lineage(workspace: Any, version: ModelVersion) -> ModelLineage:
    runs = workspace.store.runs
    try:
        run = runs.get(version.run_id) if version.run_id else None
    except NotFoundError:  # the run was deleted; the version keeps its id
        run = None
    if run is None:
        return ModelLineage(version.run_id, None, None, (), None, None)
    pipeline = pipeline_of(runs, run)
    code = run.code if run.code.commit or pipeline is None else pipeline.code
    return ModelLineage(
        run_id=run.id,
        run=RunSummary.of(run),
        pipeline_run=None if pipeline is None else _pipeline_summary(pipeline),
        datasets=upstream_datasets(workspace, run.id),
        commit=code.commit,
        diff_digest=code.diff_digest,
    )


def pipeline_of(runs: Any, run: Run) -> Run | None:
    """The pipeline run that `run` is a step of (or `run` itself, if it is one)."""
    if run.tags.get(TAG_KIND) == KIND_PIPELINE:
        return run
    if run.parent_run_id is None:
        return None
    try:
        parent = runs.get(run.parent_run_id)
    except NotFoundError:
        return None
    return parent if parent.tags.get(TAG_KIND) == KIND_PIPELINE else None


def _pipeline_summary(run: Run) -> RunSummary:
    return RunSummary.of(run, run.tags.get(TAG_PIPELINE))


def upstream_datasets(workspace: Any, run_id: str) -> tuple[DatasetUse, ...]:
    """Dataset versions the run used, directly or through the artifacts it took as inputs."""
    from loopml.pipelines.lineage import lineage

    root = lineage(run_id, direction="up", workspace=workspace)
    found: dict[str, DatasetUse] = {}
    for node in root.walk():
        if node.kind != "dataset" or node.id in found:
            continue
        name, _, number = node.id.rpartition("@")
        record = workspace.store.datasets.get_version(name, int(number))
        found[node.id] = DatasetUse(record.name, record.version, record.digest)
    return tuple(found.values())
