"""Figures and images a run logged (`run.log_figure`, `run.log_image`, autolog), shown inline
on its page and side by side when runs are compared.

Images are served by name from their run, with their own content type and
`X-Content-Type-Options: nosniff`; only PNG and SVG are served, and an SVG gets a policy
that runs nothing (no script, a sandbox) should someone open it directly instead of through
the page's <img>, where browsers never run an SVG's scripts. Plotly figures are never served
as HTML: the page draws their JSON with the plotly.js the server ships, after escaping every
string in it, since plotly.js reads a few HTML tags in labels.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from loopml.core.entities import ArtifactRef
from loopml.core.errors import NotFoundError
from loopml.server.ui.render import Reader, page

router = APIRouter(include_in_schema=False)
IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}
PLOTLY_SUFFIX = ".plotly.json"  # as loopml.tracking.figures names them
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RAW = ("bytes", "file")  # serializers whose blob is the file itself
MAX_FIGURES = 24
MAX_PLOTLY_BYTES = 5 << 20  # larger figures are listed as artifacts, not drawn
DEFAULT_HEIGHT = 360
IMAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


@dataclasses.dataclass(frozen=True)
class LoggedFigure:
    name: str
    kind: str  # "image" or "plotly"
    url: str = ""  # an image's URL
    figure: str | None = None  # a plotly figure's JSON, its strings escaped


def kind_of(ref: ArtifactRef) -> str | None:
    if ref.serializer not in RAW:
        return None
    lower = ref.name.lower()
    if lower.endswith(PLOTLY_SUFFIX):
        return "plotly" if ref.size <= MAX_PLOTLY_BYTES else None
    return "image" if lower.endswith(tuple(IMAGE_TYPES)) else None


def image_url(run_id: str, name: str) -> str:
    return f"/runs/{quote(run_id, safe='')}/images/{quote(name, safe='/')}"


def logged_figures(
    read: Reader, run_id: str, artifacts: Iterable[ArtifactRef]
) -> list[LoggedFigure]:
    """The run's figures and images, by name, at most MAX_FIGURES."""
    shown = [ref for ref in sorted(artifacts, key=lambda r: r.name) if kind_of(ref)]
    found = (_figure(read, run_id, ref) for ref in shown[:MAX_FIGURES])
    return [figure for figure in found if figure is not None]


def _figure(read: Reader, run_id: str, ref: ArtifactRef) -> LoggedFigure | None:
    if kind_of(ref) == "image":
        return LoggedFigure(ref.name, "image", url=image_url(run_id, ref.name))
    data = read.workspace.artifacts.get_bytes(ref.digest, what=f"figure {ref.name!r}")
    figure = safe_plotly_json(data)  # not a figure after all: listed only as an artifact
    return None if figure is None else LoggedFigure(ref.name, "plotly", figure=figure)


def safe_plotly_json(data: bytes) -> str | None:
    """A logged plotly figure as JSON to draw: its data and layout, every string escaped."""
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("data", []), list):
        return None
    layout = parsed.get("layout") if isinstance(parsed.get("layout"), dict) else {}
    layout = {"height": DEFAULT_HEIGHT, **layout}  # the page's box does not size it
    return json.dumps(_escaped({"data": parsed.get("data", []), "layout": layout}))


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return html.escape(value, quote=False)  # < > & are what make markup
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {html.escape(str(k), quote=False): _escaped(v) for k, v in value.items()}
    return value


def compare_rows(read: Reader, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """One row per figure name any of the runs logged: the figure of each run, or None."""
    by_run = {}
    for run_id in run_ids:
        found = logged_figures(read, run_id, read("runs", "artifacts", run_id=run_id))
        by_run[run_id] = {f.name: f for f in found}
    names = sorted({name for figures in by_run.values() for name in figures})[:MAX_FIGURES]
    return [{"name": name, "cells": [by_run[r].get(name) for r in run_ids]} for name in names]


@router.get("/runs/{run_id}/images/{name:path}")
@page("runs")
def image(request: Request, run_id: str, name: str) -> Response:
    read = Reader(request)
    ref: ArtifactRef = read("runs", "get_artifact", run_id=run_id, name=name)
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ref.serializer not in RAW or suffix not in IMAGE_TYPES:
        raise NotFoundError(f"run {run_id} has no image {name!r} (only PNG and SVG are shown)")
    data = read.workspace.artifacts.get_bytes(ref.digest, what=f"image {name!r}")
    if suffix == ".png" and not data.startswith(PNG_MAGIC):
        raise NotFoundError(f"artifact {name!r} of run {run_id} is not a PNG image")
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": IMAGE_POLICY,
               "Cache-Control": "private, no-cache", "ETag": f'"{ref.digest}"'}  # fmt: skip
    if request.headers.get("if-none-match") == f'"{ref.digest}"':
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=IMAGE_TYPES[suffix], headers=headers)
