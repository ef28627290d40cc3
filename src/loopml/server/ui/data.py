"""Datasets (versions, schema, profile histograms, diff) and pipeline runs (the step graph)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from loopml.core.errors import InvalidArgumentError
from loopml.core.pipelines import KIND_PIPELINE, TAG_KIND, TAG_PIPELINE
from loopml.server.ui import charts
from loopml.server.ui.lineage import lineage_tree
from loopml.server.ui.render import Reader, page, render
from loopml.server.ui.runs import PAGE_SIZES

router = APIRouter(include_in_schema=False)
MAX_HISTOGRAMS = 40
GRAPH_ARTIFACT = "pipeline/graph"  # where a pipeline run keeps its graph (pipelines.records)


@router.get("/datasets")
@page("datasets")
def datasets_page(request: Request) -> Response:
    latest = Reader(request)("datasets", "list_latest")
    return render(request, "datasets.html", section="datasets", datasets=latest)


@router.get("/datasets/{name}")
@page("datasets")
def dataset_page(request: Request, name: str) -> Response:
    versions = Reader(request)("datasets", "list_versions", name=name)
    if not versions:
        from loopml.core.errors import NotFoundError

        raise NotFoundError(f"dataset {name!r} not found")
    return render(request, "dataset.html", section="datasets", name=name,
                  versions=sorted(versions, key=lambda v: -v.version))  # fmt: skip


@router.get("/datasets/{name}/diff")
@page("datasets")
def dataset_diff_page(request: Request, name: str, old: int, new: int) -> Response:
    from loopml.data.diff import diff_versions

    read = Reader(request)
    before = read("datasets", "get_version", name=name, version=old)
    after = read("datasets", "get_version", name=name, version=new)
    change = diff_versions(read.workspace, _with_profile(read, before), _with_profile(read, after))
    return render(request, "dataset_diff.html", section="datasets", name=name, diff=change)


@router.get("/datasets/{name}/{version}")
@page("datasets")
def dataset_version_page(request: Request, name: str, version: str) -> Response:
    read = Reader(request)
    number = int(version) if version.isdigit() else version
    record = _with_profile(read, read("datasets", "get_version", name=name, version=number))
    columns = record.profile.columns if record.profile else ()
    histograms = [(c.name, charts.histogram_chart(c)) for c in columns[:MAX_HISTOGRAMS]]
    consumers = read("datasets", "consumers", name=record.name, version=record.version)
    others = [v.version for v in read("datasets", "list_versions", name=record.name)]
    return render(
        request, "dataset_version.html", section="datasets", record=record,
        histograms=[(n, f) for n, f in histograms if f], consumers=consumers,
        others=sorted(v for v in others if v != record.version),
        lineage=lineage_tree(read.workspace, f"dataset:{record.name}@{record.version}", "down"),
    )  # fmt: skip


def _with_profile(read: Reader, record: Any) -> Any:
    from loopml.data.versions import read_profile

    return dataclasses.replace(record, profile=read_profile(read.workspace.artifacts, record))


# -- pipeline runs --------------------------------------------------------------------------
@router.get("/pipelines")
@page("pipelines")
def pipelines_page(
    request: Request, pipeline: str = "", page_token: str = Query("", alias="page"),
    n: int = 1, limit: int = 50,
) -> Response:  # fmt: skip
    read = Reader(request)
    limit = limit if limit in PAGE_SIZES else 50
    query = f"tags.{TAG_KIND} = '{KIND_PIPELINE}'"
    if pipeline:
        query += f" and tags.{TAG_PIPELINE} = '{pipeline.replace(chr(39), chr(39) * 2)}'"
    found = read("runs", "search", projects=read.visible_projects(), filter=query,
                 order_by=["start_time DESC"], limit=limit,
                 page_token=page_token or None)  # fmt: skip
    return render(request, "pipelines.html", section="pipelines", runs=list(found),
                  state={"pipeline": pipeline, "limit": limit}, tag=TAG_PIPELINE,
                  next_token=found.next_page_token, page_number=max(1, n),
                  first_page=bool(page_token))  # fmt: skip


@router.get("/pipelines/{run_id}")
@page("pipelines")
def pipeline_page(request: Request, run_id: str) -> Response:
    from loopml.pipelines.records import read_pipeline_run

    read = Reader(request)
    run = read("runs", "get", run_id=run_id)
    if run.tags.get(TAG_KIND) != KIND_PIPELINE:
        raise InvalidArgumentError(f"run {run_id} is not a pipeline run")
    read.check("runs", "search", projects=[run.project])
    record = read_pipeline_run(read.workspace, run.id)
    upstream = _upstream(read, run.id)
    nodes = [
        {"name": s.name, "upstream": upstream.get(s.name, []), "status": s.status.value,
         "cached": s.cached, "duration": _seconds(s.duration)}
        for s in record.steps
    ]  # fmt: skip
    return render(request, "pipeline.html", section="pipelines", run=run, record=record,
                  graph=charts.step_graph(nodes) if nodes else None, upstream=upstream)  # fmt: skip


def _upstream(read: Reader, run_id: str) -> dict[str, list[str]]:
    ref = read("runs", "get_artifact", run_id=run_id, name=GRAPH_ARTIFACT)
    data = read.workspace.artifacts.get_bytes(ref.digest, what=f"graph of pipeline run {run_id}")
    return {node["name"]: list(node.get("upstream", ())) for node in json.loads(data)["nodes"]}


def _seconds(value: float | None) -> str:
    from loopml.server.ui.render import format_duration

    return format_duration(value)
