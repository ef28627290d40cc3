"""Runs: the paged, filterable, sortable table; a run's page; several runs compared."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from loopml.core.entities import Run
from loopml.core.errors import InvalidArgumentError, LoopmlError, http_status
from loopml.core.pipelines import KIND_PIPELINE, TAG_KIND
from loopml.server.ui import charts, figures
from loopml.server.ui.lineage import lineage_tree
from loopml.server.ui.render import Reader, page, render

router = APIRouter(include_in_schema=False)
PAGE_SIZES = (25, 50, 100, 250)
MAX_COLUMNS = 8  # metric and param columns each, from the runs on the page
MAX_COMPARE = 10
MAX_CHARTS = 24
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-./]+")


def field(kind: str, key: str) -> str:
    """A search field for a metric, param or tag key (quoted when it needs to be)."""
    return f"{kind}.{key}" if _PLAIN_KEY.fullmatch(key) else f"{kind}.`{key}`"


def sort_links(order: str | None, fields: Sequence[str]) -> dict[str, dict[str, str]]:
    """For each sortable field: the order a click asks for, and the arrow shown now."""
    current, _, direction = (order or "").strip().rpartition(" ")
    if direction.upper() not in ("ASC", "DESC"):
        current, direction = (order or "").strip(), "ASC"
    links = {}
    for name in fields:
        if name == current:
            descending = direction.upper() == "DESC"
            links[name] = {"order": f"{name} {'ASC' if descending else 'DESC'}",
                           "arrow": "▼" if descending else "▲"}  # fmt: skip
        else:
            links[name] = {"order": f"{name} DESC", "arrow": ""}
    return links


def _columns(runs: Sequence[Run], attribute: str) -> list[str]:
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(getattr(run, attribute)))
    return sorted(keys)[:MAX_COLUMNS]


@router.get("/runs")
@page("runs")
def runs_page(
    request: Request,
    q: str = "",
    order: str = "",
    project: str = "",
    page_token: str = Query("", alias="page"),
    n: int = 1,
    limit: int = 50,
) -> Response:
    read = Reader(request)
    limit = limit if limit in PAGE_SIZES else 50
    projects = [project] if project else read.visible_projects()
    state = {"q": q, "order": order, "project": project, "limit": limit}
    error, status, found = None, 200, []
    next_token = None
    try:
        found = read("runs", "search", projects=projects, filter=q or None,
                     order_by=[order] if order else None, limit=limit,
                     page_token=page_token or None)  # fmt: skip
        next_token = found.next_page_token
    except InvalidArgumentError as exc:  # a bad filter or order: say so above the table
        error, status = str(exc), http_status(exc)
    metric_keys, param_keys = _columns(found, "metrics"), _columns(found, "params")
    sortable = ["name", "status", "start_time", "end_time"]
    sortable += [field("metrics", k) for k in metric_keys]
    sortable += [field("params", k) for k in param_keys]
    return render(
        request, "runs.html", status=status, section="runs", runs=list(found), state=state,
        error=error, metric_keys=metric_keys, param_keys=param_keys, field=field,
        sort=sort_links(order, sortable), next_token=next_token, page_number=max(1, n),
        page_sizes=PAGE_SIZES, projects=read.visible_projects() or
        [p.name for p in read("projects", "list")], first_page=bool(page_token),
        kind_tag=TAG_KIND,
    )  # fmt: skip


@router.get("/runs/compare")
@page("runs")
def compare_page(request: Request, run: list[str] = Query(default=[])) -> Response:
    read = Reader(request)
    ids = list(dict.fromkeys(run))[:MAX_COMPARE]
    if len(ids) < 2:
        raise InvalidArgumentError("select at least two runs to compare")
    runs = [read("runs", "get", run_id=run_id) for run_id in ids]
    labels = _labels(runs)
    param_keys = sorted({k for r in runs for k in r.params})
    params = [
        {"key": k, "values": [r.params.get(k) for r in runs],
         "differs": len({r.params.get(k) for r in runs}) > 1}
        for k in param_keys
    ]  # fmt: skip
    params.sort(key=lambda row: not row["differs"])
    metric_keys = sorted({k for r in runs for k in r.metrics})
    metrics = [{"key": k, "values": [r.metrics.get(k) for r in runs]} for k in metric_keys]
    curves = []
    for key in metric_keys[:MAX_CHARTS]:
        series = {labels[r.id]: read("runs", "metric_history", run_id=r.id, key=key)
                  for r in runs if key in r.metrics}  # fmt: skip
        curves.append(charts.metric_chart(key, series))
    logged = figures.compare_rows(read, [r.id for r in runs])
    return render(request, "compare.html", section="runs", runs=runs, labels=labels,
                  params=params, metrics=metrics, figures=curves, logged=logged)  # fmt: skip


def _labels(runs: Sequence[Run]) -> dict[str, str]:
    names = [r.name for r in runs]
    return {r.id: r.name if names.count(r.name) == 1 else f"{r.name} ({r.id[:6]})" for r in runs}


@router.get("/runs/{run_id}")
@page("runs")
def run_page(request: Request, run_id: str) -> Response:
    read = Reader(request)
    run = read("runs", "get", run_id=run_id)
    histories = {key: read("runs", "metric_history", run_id=run.id, key=key)
                 for key in sorted(run.metrics)[:MAX_CHARTS]}  # fmt: skip
    curves = [charts.metric_chart(key, {run.name: points})
              for key, points in histories.items() if len(points) > 1]  # fmt: skip
    artifacts = read("runs", "artifacts", run_id=run.id)
    children = []
    if run.tags.get(TAG_KIND) == KIND_PIPELINE:
        children = list(read("runs", "search", projects=[run.project],
                             filter=f"parent_run_id = '{run.id}'",
                             order_by=["start_time ASC"], limit=200))  # fmt: skip
    context: dict[str, Any] = {
        "run": run, "figures": curves, "histories": histories, "artifacts": artifacts,
        "logged": figures.logged_figures(read, run.id, artifacts),
        "inputs": read("runs", "inputs", run_id=run.id), "children": children,
        "is_pipeline": run.tags.get(TAG_KIND) == KIND_PIPELINE, "lineage": None,
        "lineage_error": None, "models": [], "datasets": [],
    }  # fmt: skip
    if read.sees_all:  # records outside projects, and lineage across them, need '*'
        context["models"] = read("models", "versions_from_run", run_id=run.id)
        context["datasets"] = read("datasets", "produced_by", run_id=run.id)
        try:
            context["lineage"] = lineage_tree(read.workspace, run.id)
        except LoopmlError as exc:
            context["lineage_error"] = str(exc)
    return render(request, "run.html", section="runs", **context)
