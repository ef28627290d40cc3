"""Running the policy's training pipeline and finding the model version it registered."""

from __future__ import annotations

from typing import Any

from loopml.automation.actions import split_uri
from loopml.core.errors import LoopmlError, NotFoundError
from loopml.core.models import ModelVersion
from loopml.core.pipelines import TAG_CACHED_FROM, PipelineRun
from loopml.core.policies import Policy
from loopml.workspace import Workspace


def run(ws: Workspace, policy: Policy, executor: str = "local") -> PipelineRun:
    """Run the pipeline with the policy's params. Unchanged steps come from the cache, so a
    controller restarted mid-training redoes only what had not finished."""
    from loopml.pipelines.loader import load_pipeline

    pipeline = load_pipeline(policy.pipeline, policy.root)
    return pipeline.run(executor=executor, workspace=ws, **dict(policy.params))


def pipeline_run(ws: Workspace, run_id: str | None) -> Any:
    from loopml.pipelines.api import get_pipeline_run

    if run_id is None:
        raise LoopmlError("the loop state names no pipeline run to evaluate")
    return get_pipeline_run(run_id, workspace=ws)


def candidate(ws: Workspace, policy: Policy, result: PipelineRun) -> ModelVersion:
    """The newest version of the policy's model registered by a step of `result` (or, for a
    step served from the cache, by the run it was cached from)."""
    found: list[ModelVersion] = []
    for step in result.steps:
        for run_id in _step_runs(ws, step.run_id):
            found += [
                v for v in ws.store.models.versions_from_run(run_id) if v.name == policy.model
            ]
    if not found:
        raise LoopmlError(
            f"pipeline run {result.id} ({policy.pipeline}) registered no version of model "
            f"{policy.model!r}: its last step should call loopml.registry.register"
        )
    return max(found, key=lambda v: v.version)


def _step_runs(ws: Workspace, run_id: str | None) -> list[str]:
    if run_id is None:
        return []
    try:
        run = ws.store.runs.get(run_id)
    except NotFoundError:
        return []
    source = run.tags.get(TAG_CACHED_FROM)
    return [run_id, source] if source else [run_id]


def same_model(ws: Workspace, candidate: str, champion: str) -> bool:
    """The same version, or another version holding the same files (same digest)."""
    if candidate == champion:
        return True
    models = ws.store.models
    mine, theirs = (models.get_version(*split_uri(uri)) for uri in (candidate, champion))
    return mine.digest == theirs.digest
