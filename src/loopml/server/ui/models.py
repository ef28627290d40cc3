"""Models (versions, aliases, gate results, lineage) and deployments (routes and traffic
split, request rate and latency, monitor reports with drift over time, canary decisions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from loopml.core.errors import NotFoundError
from loopml.core.loops import Phase
from loopml.core.serving import Deployment, Prediction, RouteMode
from loopml.server.ui import charts
from loopml.server.ui.lineage import lineage_tree
from loopml.server.ui.render import Reader, page, render

router = APIRouter(include_in_schema=False)
TAG_GATE = "loopml.gate"  # written by the controller (automation.actions)
TAG_GATE_REASONS = "loopml.gate.reasons"
RECENT_PREDICTIONS = 5_000  # the newest, for the request-rate and latency charts
MAX_BUCKETS = 60
LATEST = 20  # predictions listed on a deployment's page
DECISIONS = (Phase.CANARY, Phase.PROMOTED, Phase.ROLLED_BACK, Phase.REJECTED, Phase.UNCHANGED,
             Phase.FAILED)  # fmt: skip


@router.get("/models")
@page("models")
def models_page(request: Request) -> Response:
    models = Reader(request)("models", "list_models")
    return render(request, "models.html", section="models", models=models)


@router.get("/models/{name}")
@page("models")
def model_page(request: Request, name: str) -> Response:
    read = Reader(request)
    model = read("models", "get_model", name=name)
    versions = sorted(read("models", "list_versions", name=name), key=lambda v: -v.version)
    metric_keys = sorted({k for v in versions for k in v.metrics})[:8]
    return render(request, "model.html", section="models", model=model, versions=versions,
                  metric_keys=metric_keys, gate_tag=TAG_GATE,
                  gate_reasons_tag=TAG_GATE_REASONS)  # fmt: skip


@router.get("/models/{name}/{version}")
@page("models")
def model_version_page(request: Request, name: str, version: str) -> Response:
    read = Reader(request)
    record = read("models", "get_version", name=name,
                  version=int(version) if version.isdigit() else version)  # fmt: skip
    deployments = [d for d in read("deployments", "list")
                   if any(r.model == record.name and r.version == record.version
                          for r in d.routes)]  # fmt: skip
    audit = [e for e in read("audit", "events", target=f"model:{record.name}", limit=500)
             if _mentions(e.details, record.version)][:50]  # fmt: skip
    return render(
        request, "model_version.html", section="models", record=record,
        gate=record.tags.get(TAG_GATE), gate_reasons=record.tags.get(TAG_GATE_REASONS),
        deployments=deployments, audit=audit,
        lineage=lineage_tree(read.workspace, f"model:{record.uri}"),
    )  # fmt: skip


def _mentions(details: Any, version: int) -> bool:
    return version in (details.get("version"), details.get("to"), details.get("from"))


# -- deployments ----------------------------------------------------------------------------
@router.get("/deployments")
@page("deployments")
def deployments_page(request: Request) -> Response:
    read = Reader(request)
    rows = [{"deployment": d, "predictions": read("predictions", "count", deployment=d.name),
             "phase": read("loops", "get", deployment=d.name).phase.value}
            for d in read("deployments", "list")]  # fmt: skip
    return render(request, "deployments.html", section="deployments", rows=rows)


@router.get("/deployments/{name}")
@page("deployments")
def deployment_page(request: Request, name: str) -> Response:
    read = Reader(request)
    deployment = read("deployments", "get", name=name)
    recent = read("predictions", "query", deployment=name, limit=RECENT_PREDICTIONS, newest=True)
    reports = read("monitoring", "list", target=f"deployment:{name}", limit=100)
    events = read("loops", "events", deployment=name, limit=500)
    return render(
        request, "deployment.html", section="deployments", deployment=deployment,
        shares=traffic_shares(deployment), count=read("predictions", "count", deployment=name),
        traffic=charts.traffic_chart(traffic_shares(deployment)),
        **traffic_figures(recent), recent=len(recent), reports=reports,
        drift=charts.drift_chart(reports), state=read("loops", "get", deployment=name),
        decisions=[e for e in reversed(events) if e.phase in DECISIONS],
        revisions=list(reversed(read("deployments", "revisions", name=name)))[:50],
        latest=list(reversed(recent[-LATEST:])),
    )  # fmt: skip


@router.get("/predictions/{prediction_id}")
@page("deployments")
def prediction_page(request: Request, prediction_id: str) -> Response:
    """One prediction and where it came from: deployment, model version, and on from there."""
    read = Reader(request)
    prediction = read("predictions", "get", prediction_id=prediction_id)
    model = f"{prediction.model}/{prediction.version}"
    return render(request, "prediction.html", section="deployments", prediction=prediction,
                  lineage=lineage_tree(read.workspace, f"model:{model}"))  # fmt: skip


@router.get("/deployments/{name}/reports/{report_id}")
@page("deployments")
def report_page(request: Request, name: str, report_id: str) -> Response:
    report = Reader(request)("monitoring", "get", report_id=report_id)
    if report.target != f"deployment:{name}":
        raise NotFoundError(f"deployment {name!r} has no report {report_id}")
    columns = sorted(report.columns.values(), key=lambda c: (not c.drifted, c.name))
    return render(request, "report.html", section="deployments", name=name, report=report,
                  columns=columns)  # fmt: skip


def traffic_shares(deployment: Deployment) -> dict[str, float]:
    """Each live route's share of requests (a shadow gets copies, not a share)."""
    canary = deployment.canary
    shares = {deployment.primary.uri: 1.0 - (canary.weight if canary else 0.0)}
    if canary is not None:
        shares[canary.uri] = canary.weight
    return shares


def traffic_figures(predictions: Sequence[Prediction]) -> dict[str, Any]:
    """Requests per bucket by model version, and p50/p99 latency per bucket."""
    served = [p for p in predictions if p.route is not RouteMode.SHADOW]
    if not served:
        return {"requests": None, "latency": None, "bucket": None}
    start, end = served[0].time, served[-1].time
    span = max((end - start).total_seconds(), 1.0)
    step = next((s for s in (1, 10, 60, 600, 3600, 86400) if span / s <= MAX_BUCKETS), 86400)
    count = int(span // step) + 1
    buckets = [start + timedelta(seconds=i * step) for i in range(count)]
    index = [min(count - 1, int((p.time - start).total_seconds() // step)) for p in served]
    labels = sorted({f"{p.model}/{p.version}" for p in served})
    counts = {label: [0] * count for label in labels}
    latencies: list[list[float]] = [[] for _ in range(count)]
    for i, p in zip(index, served, strict=True):
        counts[f"{p.model}/{p.version}"][i] += 1
        latencies[i].append(p.latency_ms)
    p50 = [float(np.percentile(v, 50)) if v else None for v in latencies]
    p99 = [float(np.percentile(v, 99)) if v else None for v in latencies]
    per = {1: "second", 10: "10 s", 60: "minute", 600: "10 min", 3600: "hour"}.get(step, "day")
    return {"requests": charts.requests_chart(buckets, counts, per),
            "latency": charts.latency_chart(buckets, p50, p99), "bucket": per}  # fmt: skip
