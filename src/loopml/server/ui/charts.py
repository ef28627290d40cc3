"""Plotly figures for the UI, handed to pages as JSON text.

A page puts the JSON in a `data-figure` attribute (autoescaped like any other text) and the
base template draws every such <div> with the plotly.js the server serves itself. Text that
users chose (run, metric, column and category names) is HTML-escaped before it goes into a
figure, since plotly.js reads a few HTML tags in labels.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from loopml.core.datasets import ColumnProfile
from loopml.core.entities import Metric

COLORS = ("#2e86de", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d",
          "#d35400", "#2c3e50", "#f1c40f")  # fmt: skip
STATUS_COLORS = {"FINISHED": "#27ae60", "RUNNING": "#2e86de", "FAILED": "#c0392b",
                 "KILLED": "#7f8c8d", "PENDING": "#bdc3c7", "SKIPPED": "#bdc3c7"}  # fmt: skip


def to_json(figure: Any) -> str:
    import plotly.io

    return str(plotly.io.to_json(figure, validate=False))


def _figure(height: int = 300, **layout: Any) -> Any:
    import plotly.graph_objects as go

    figure = go.Figure(layout={"template": "none"})  # plotly's default template is ~10 KB
    figure.update_layout(height=height, margin={"l": 50, "r": 20, "t": 30, "b": 40},
                         font={"family": "system-ui, sans-serif", "size": 12},
                         plot_bgcolor="white", legend={"orientation": "h", "y": -0.2},
                         **layout)  # fmt: skip
    figure.update_xaxes(gridcolor="#eee")
    figure.update_yaxes(gridcolor="#eee")
    return figure


def metric_chart(key: str, series: Mapping[str, Sequence[Metric]]) -> str:
    """One metric over steps, a line per run (`series`: run label -> history)."""
    figure = _figure(title={"text": html.escape(key), "font": {"size": 13}})
    for index, (label, points) in enumerate(series.items()):
        figure.add_scatter(x=[p.step for p in points], y=[p.value for p in points],
                           mode="lines+markers", name=html.escape(label),
                           line_color=COLORS[index % len(COLORS)])  # fmt: skip
    figure.update_layout(xaxis_title="step", showlegend=len(series) > 1)
    return to_json(figure)


def histogram_chart(column: ColumnProfile) -> str | None:
    """A column's distribution from its stored profile: histogram bins or category counts."""
    figure = _figure(height=220, showlegend=False)
    if column.histogram is not None and column.histogram.counts:
        edges = column.histogram.edges
        centers = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        widths = [b - a for a, b in itertools.pairwise(edges)]
        figure.add_bar(x=centers, y=list(column.histogram.counts), width=widths,
                       marker_color=COLORS[0])  # fmt: skip
    elif column.counts or column.top:
        pairs = sorted((column.counts or dict(column.top)).items(), key=lambda kv: -kv[1])[:30]
        figure.add_bar(x=[html.escape(str(k)) for k, _ in pairs], y=[v for _, v in pairs],
                       marker_color=COLORS[1])  # fmt: skip
        figure.update_xaxes(type="category")
    else:
        return None
    figure.update_layout(yaxis_title="rows")
    return to_json(figure)


def step_graph(nodes: Sequence[Mapping[str, Any]]) -> str:
    """A pipeline's steps as a left-to-right graph, each node colored by its status.
    `nodes`: name, upstream (names), status, cached, duration (text)."""
    depth: dict[str, int] = {}
    by_name = {n["name"]: n for n in nodes}

    def level(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            ups = [u for u in by_name.get(name, {}).get("upstream", ()) if u in by_name]
            depth[name] = 1 + max((level(u, seen | {name}) for u in ups if u not in seen),
                                  default=-1)  # fmt: skip
        return depth[name]

    rows: dict[int, int] = {}
    position: dict[str, tuple[int, int]] = {}
    for node in nodes:
        x = level(node["name"])
        position[node["name"]] = (x, rows.get(x, 0))
        rows[x] = rows.get(x, 0) + 1
    figure = _figure(height=120 + 60 * max(rows.values(), default=1), showlegend=False)
    for node in nodes:
        for up in node.get("upstream", ()):
            if up in position:
                (x0, y0), (x1, y1) = position[up], position[node["name"]]
                figure.add_scatter(x=[x0, x1], y=[-y0, -y1], mode="lines", hoverinfo="skip",
                                   line={"color": "#aaa", "width": 2})  # fmt: skip
    figure.add_scatter(
        x=[position[n["name"]][0] for n in nodes], y=[-position[n["name"]][1] for n in nodes],
        mode="markers+text", text=[html.escape(n["name"]) for n in nodes],
        textposition="top center",
        marker={"size": 22, "symbol": ["diamond" if n["cached"] else "circle" for n in nodes],
                "color": [STATUS_COLORS.get(n["status"], "#999") for n in nodes]},
        hovertext=[html.escape(f"{n['name']}: {n['status']}"
                               + (" (cached)" if n["cached"] else "")
                               + (f", {n['duration']}" if n["duration"] else ""))
                   for n in nodes],
        hoverinfo="text",
    )  # fmt: skip
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return to_json(figure)


def traffic_chart(shares: Mapping[str, float]) -> str:
    figure = _figure(height=240)
    figure.add_pie(labels=[html.escape(k) for k in shares], values=list(shares.values()),
                   hole=0.4, sort=False, marker={"colors": list(COLORS)})  # fmt: skip
    return to_json(figure)


def requests_chart(
    buckets: Sequence[datetime], counts: Mapping[str, Sequence[int]], per: str
) -> str:
    """Requests per time bucket, stacked by model version."""
    figure = _figure(barmode="stack", yaxis_title=f"requests per {per}")
    for index, (label, values) in enumerate(counts.items()):
        figure.add_bar(x=list(buckets), y=list(values), name=html.escape(label),
                       marker_color=COLORS[index % len(COLORS)])  # fmt: skip
    return to_json(figure)


def latency_chart(
    buckets: Sequence[datetime], p50: Sequence[float | None], p99: Sequence[float | None]
) -> str:
    figure = _figure(yaxis_title="latency (ms)")
    figure.add_scatter(x=list(buckets), y=list(p50), mode="lines+markers", name="p50",
                       line_color=COLORS[0], connectgaps=False)  # fmt: skip
    figure.add_scatter(x=list(buckets), y=list(p99), mode="lines+markers", name="p99",
                       line_color=COLORS[4], connectgaps=False)  # fmt: skip
    return to_json(figure)


def drift_chart(reports: Sequence[Any]) -> str | None:
    from loopml.monitoring.charts import trend_figure

    figure = trend_figure(reports)
    if figure is None:
        return None
    figure.update_layout(height=300)
    return to_json(figure)
