"""Plotly figures of a monitoring report: reference and current distributions overlaid, and
the drift share over time. Shares, not counts, so windows and references of any size compare.

The reference side comes from the stored profile: exact values when the data was small,
otherwise the quantile sketch (or, failing that, the histogram) read as a cumulative
distribution and cut at the chart's bins.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.datasets import ColumnProfile
from loopml.core.monitoring import MonitorReport
from loopml.data.profile import numeric_values
from loopml.data.schema import as_strings

BINS = 30
TOP_CATEGORIES = 30
OTHER = "(other)"
REFERENCE_COLOR, CURRENT_COLOR, DRIFT_COLOR = "#7f8c8d", "#2e86de", "#e74c3c"
TEMPLATE = go.layout.Template(
    layout={"font": {"family": "system-ui, sans-serif", "size": 12}, "plot_bgcolor": "white",
            "xaxis": {"gridcolor": "#eee"}, "yaxis": {"gridcolor": "#eee"}}
)  # fmt: skip


def numeric_figure(profile: ColumnProfile, column: pa.ChunkedArray) -> go.Figure | None:
    current = numeric_values(column)
    current = current[np.isfinite(current)]
    edges = _edges(profile, current)
    if edges is None:
        return None
    reference = _reference_shares(profile, edges)
    shares = np.histogram(current, edges)[0] / max(1, len(current))
    centers, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    figure = go.Figure()
    for name, values, color in (("reference", reference, REFERENCE_COLOR),
                                ("current", shares, CURRENT_COLOR)):  # fmt: skip
        figure.add_bar(x=centers, y=values, width=widths, name=name, marker_color=color,
                       opacity=0.6)  # fmt: skip
    return _layout(figure, "value", barmode="overlay")


def categorical_figure(profile: ColumnProfile, column: pa.ChunkedArray) -> go.Figure | None:
    reference = dict(profile.counts or {})
    if profile.other:
        reference[OTHER] = reference.get(OTHER, 0) + profile.other
    counted = pc.value_counts(pc.drop_null(as_strings(column)))
    current = dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(),
                       strict=True))  # fmt: skip
    if not reference and not current:
        return None
    keys, ref_shares, cur_shares = _top_categories(reference, current)
    labels = [html.escape(str(k)) for k in keys]
    figure = go.Figure()
    figure.add_bar(x=labels, y=ref_shares, name="reference", marker_color=REFERENCE_COLOR)
    figure.add_bar(x=labels, y=cur_shares, name="current", marker_color=CURRENT_COLOR)
    figure.update_xaxes(type="category")
    return _layout(figure, "category", barmode="group")


def column_figure(profile: ColumnProfile, column: pa.ChunkedArray, kind: str) -> go.Figure | None:
    if kind == "numeric":
        return numeric_figure(profile, column)
    return categorical_figure(profile, column)


def trend_figure(reports: Sequence[MonitorReport]) -> go.Figure | None:
    """Drift share per stored report, oldest first; drifted reports in red."""
    ordered = sorted(reports, key=lambda r: r.time)
    if not ordered:
        return None
    figure = go.Figure()
    figure.add_scatter(
        x=[r.time for r in ordered], y=[r.drift_share for r in ordered], mode="lines+markers",
        name="drift share", line_color=CURRENT_COLOR,
        marker={"size": 9, "color": [DRIFT_COLOR if r.dataset_drift else CURRENT_COLOR
                                     for r in ordered]},
        customdata=[len(r.drifted_columns) for r in ordered],
        hovertemplate="%{x}<br>drift share %{y:.0%} (%{customdata} columns)<extra></extra>",
    )  # fmt: skip
    figure.add_hline(y=ordered[-1].drift_threshold, line_dash="dash", line_color=DRIFT_COLOR,
                     annotation_text="threshold")  # fmt: skip
    figure.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return _layout(figure, "time", y_title="drift share")


def figure_html(figure: go.Figure) -> str:
    """A chart's <div> and script; plotly.js itself is inlined once by the page."""
    return str(figure.to_html(full_html=False, include_plotlyjs=False,
                              config={"displaylogo": False, "responsive": True}))  # fmt: skip


# -- helpers --------------------------------------------------------------------------------
def _layout(figure: go.Figure, x_title: str, barmode: str | None = None,
            y_title: str = "share of rows") -> go.Figure:  # fmt: skip
    figure.update_layout(template=TEMPLATE, height=320, margin={"l": 50, "r": 20, "t": 20,
                         "b": 40}, barmode=barmode, xaxis_title=x_title, yaxis_title=y_title,
                         legend={"orientation": "h", "y": 1.12})  # fmt: skip
    return figure


def _edges(profile: ColumnProfile, current: np.ndarray) -> np.ndarray | None:
    lows = [v for v in (profile.min, current.min() if len(current) else None) if v is not None]
    highs = [v for v in (profile.max, current.max() if len(current) else None) if v is not None]
    if not lows or not highs:
        return None
    low, high = float(min(lows)), float(max(highs))
    return np.linspace(low, high if high > low else low + 1, BINS + 1)


def _reference_shares(profile: ColumnProfile, edges: np.ndarray) -> np.ndarray:
    if profile.values is not None:
        counts = np.histogram(np.asarray(profile.values, dtype=np.float64), edges)[0]
        return counts / max(1, counts.sum())
    points, cumulative = _reference_cdf(profile)
    if points is None:
        return np.zeros(len(edges) - 1)
    cdf = np.interp(edges, points, cumulative, left=0.0, right=1.0)
    return np.clip(np.diff(cdf), 0.0, None)


def _reference_cdf(profile: ColumnProfile) -> tuple[Any, Any]:
    if profile.quantiles_sketch:
        sketch = np.asarray(profile.quantiles_sketch, dtype=np.float64)
        return sketch, np.linspace(0.0, 1.0, len(sketch))
    if profile.histogram is not None and sum(profile.histogram.counts):
        counts = np.asarray(profile.histogram.counts, dtype=np.float64)
        cumulative = np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])
        return np.asarray(profile.histogram.edges, dtype=np.float64), cumulative
    return None, None


def _top_categories(
    reference: Mapping[str, int], current: Mapping[str, int]
) -> tuple[list[str], list[float], list[float]]:
    ref_total, cur_total = max(1, sum(reference.values())), max(1, sum(current.values()))
    keys = set(reference) | set(current)
    share = {k: max(reference.get(k, 0) / ref_total, current.get(k, 0) / cur_total) for k in keys}
    top = sorted(keys - {OTHER}, key=lambda k: (-share[k], str(k)))[:TOP_CATEGORIES]
    rest = keys - set(top)
    ref_shares = [reference.get(k, 0) / ref_total for k in top]
    cur_shares = [current.get(k, 0) / cur_total for k in top]
    if rest:
        top.append(OTHER)
        ref_shares.append(sum(reference.get(k, 0) for k in rest) / ref_total)
        cur_shares.append(sum(current.get(k, 0) for k in rest) / cur_total)
    return top, ref_shares, cur_shares
