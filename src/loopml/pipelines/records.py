"""PipelineRun records read back from tracking runs: the pipeline run, its graph (stored as
an artifact) and its step runs (child runs tagged with their node)."""

from __future__ import annotations

import json
from typing import Any

from loopml.artifacts import objects
from loopml.artifacts.objects import Stored
from loopml.core.entities import ArtifactRef, FrozenDict, Run, RunStatus
from loopml.core.errors import NotFoundError
from loopml.core.pipelines import (
    KIND_PIPELINE,
    OUTPUT_PREFIX,
    TAG_ATTEMPT,
    TAG_CACHE_KEY,
    TAG_CACHED,
    TAG_KIND,
    TAG_NODE,
    TAG_PIPELINE,
    PipelineRun,
    StepRun,
    StepStatus,
)
from loopml.pipelines.graph import Graph
from loopml.workspace import Workspace

GRAPH_ARTIFACT = "pipeline/graph"
MAX_STEP_RUNS = 50_000


def graph_document(graph: Graph) -> dict[str, Any]:
    return {
        "nodes": [
            {"name": n.name, "step": n.step.name, "upstream": n.upstream} for n in graph.nodes
        ]
    }


def read_pipeline_run(workspace: Workspace, run_id: str) -> PipelineRun:
    runs = workspace.store.runs
    run = runs.get(run_id)
    if run.tags.get(TAG_KIND) != KIND_PIPELINE:
        raise NotFoundError(f"run {run_id} is not a pipeline run")
    nodes = _graph_nodes(workspace, run)
    latest: dict[str, Run] = {}
    for child in runs.search(
        filter=f"parent_run_id = '{run.id}'", order_by=["start_time ASC"], limit=MAX_STEP_RUNS
    ):
        node = child.tags.get(TAG_NODE)
        if node is not None:
            latest[node] = child  # later attempts replace earlier ones
    steps = tuple(
        _step_run(workspace, node["name"], node["step"], latest.get(node["name"]), run)
        for node in nodes
    )
    return PipelineRun(
        id=run.id,
        pipeline=run.tags.get(TAG_PIPELINE, run.name),
        status=run.status,
        steps=steps,
        params=run.params,
        error=run.error,
        start_time=run.start_time,
        end_time=run.end_time,
        loader=lambda ref: load_output(workspace, ref),
    )


def _graph_nodes(workspace: Workspace, run: Run) -> list[dict[str, Any]]:
    ref = workspace.store.runs.get_artifact(run.id, GRAPH_ARTIFACT)
    data = workspace.artifacts.get_bytes(ref.digest, what=f"graph of pipeline run {run.id}")
    return json.loads(data)["nodes"]


def _step_run(
    workspace: Workspace, name: str, step: str, run: Run | None, pipeline: Run
) -> StepRun:
    if run is None:
        done = pipeline.status is not RunStatus.RUNNING
        status = StepStatus.SKIPPED if done else StepStatus.PENDING
        return StepRun(name, step, status, False, None)
    outputs = {
        ref.name.removeprefix(OUTPUT_PREFIX): ref
        for ref in workspace.store.runs.artifacts(run.id)
        if ref.name.startswith(OUTPUT_PREFIX)
    }
    return StepRun(
        name=name,
        step=step,
        status=StepStatus(run.status.value),
        cached=run.tags.get(TAG_CACHED) == "true",
        run_id=run.id,
        cache_key=run.tags.get(TAG_CACHE_KEY) or None,
        outputs=FrozenDict(outputs),
        error=run.error,
        start_time=run.start_time,
        end_time=run.end_time,
        attempts=int(run.tags.get(TAG_ATTEMPT, "0")),
    )


def load_output(workspace: Workspace, ref: ArtifactRef) -> Any:
    stored = Stored(ref.digest, ref.serializer, ref.size)
    scratch = workspace.cache_dir / "outputs"
    return objects.load_value(workspace.artifacts, stored, what=ref.name, scratch=scratch)


def list_pipeline_runs(
    workspace: Workspace, pipeline: str | None = None, limit: int = 100
) -> list[Run]:
    query = f"tags.{TAG_KIND} = '{KIND_PIPELINE}'"
    if pipeline:
        query += f" and tags.{TAG_PIPELINE} = '{_quote(pipeline)}'"
    return list(
        workspace.store.runs.search(filter=query, order_by=["start_time DESC"], limit=limit)
    )


def _quote(text: str) -> str:
    return text.replace("'", "''")
