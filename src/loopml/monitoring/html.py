"""A self-contained HTML page of a monitoring report: the verdict, a table of columns, the
reference and current distribution of each column overlaid, and the drift share over time.

plotly.js is inlined once (the page works offline and loads nothing); every string that comes
from users (deployment, column and category names, messages) is escaped.

    checked = loopml.monitoring.check_with_data("iris-api")
    page = render_html(checked.report, checked.reference, checked.current,
                       history=loopml.monitoring.history("iris-api"))
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from html import escape
from typing import Any

import pyarrow as pa

from loopml.core.datasets import ColumnProfile, Profile
from loopml.core.monitoring import ColumnDrift, MonitorReport
from loopml.monitoring import charts

MAX_CHARTS = 100  # columns with a chart, drifted first; the table lists them all
log = logging.getLogger("loopml.monitoring")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { margin-top: 2rem; font-size: 1.2rem; }
.meta { color: #666; margin: .1rem 0; }
.verdict { padding: .8rem 1rem; border-radius: 6px; margin: 1rem 0; font-size: 1.1rem; }
.drift { background: #fdecea; color: #a61b0f; } .ok { background: #e8f6ee; color: #1d6b3a; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { text-align: left; padding: .3rem .8rem; border-bottom: 1px solid #eee; }
tr.drifted td { color: #a61b0f; font-weight: 600; }
.column { border-top: 1px solid #ddd; margin-top: 1.5rem; padding-top: .5rem; }
.note { color: #666; font-style: italic; }
"""


def render_html(
    report: MonitorReport,
    reference: Profile,
    current: pa.Table,
    *,
    history: Sequence[MonitorReport] = (),
    prediction_reference: ColumnProfile | None = None,
    predictions: Sequence[Any] = (),
) -> str:
    """The page. `history`: stored reports of the same target, for the trend chart."""
    from plotly.offline import get_plotlyjs

    body = [
        _header(report),
        _columns_table(report),
        _prediction_section(report, prediction_reference, predictions),
        _quality_section(report),
        _performance_section(report),
        _trend_section(report, history),
        _distributions(report, reference, current),
    ]
    title = escape(f"loopml monitoring: {_target_name(report)}")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


# -- sections -------------------------------------------------------------------------------
def _header(report: MonitorReport) -> str:
    drifted, total = len(report.drifted_columns), len(report.columns)
    relation = "≥" if report.dataset_drift else "&lt;"
    verdict = "Dataset drift" if report.dataset_drift else "No dataset drift"
    lines = [
        f"model {report.model}" if report.model else None,
        f"reference: {report.reference} ({report.reference_rows} rows)",
        f"current: {report.current} ({report.current_rows} rows)",
        f"checked {report.time:%Y-%m-%d %H:%M:%S %Z} (report {report.id})",
    ]
    meta = "".join(f'<p class="meta">{escape(line)}</p>' for line in lines if line)
    return (
        f"<h1>Monitoring: {escape(_target_name(report))}</h1>{meta}"
        f'<div class="verdict {"drift" if report.dataset_drift else "ok"}">{verdict}: '
        f"{drifted} of {total} columns drifted ({report.drift_share:.0%} {relation} threshold "
        f"{report.drift_threshold:.0%})</div>{_alerts(report)}"
    )


def _alerts(report: MonitorReport) -> str:
    if not report.alerts:
        return ""
    return f'<p class="verdict drift">Alerts fired: {escape(", ".join(report.alerts))}</p>'


def _columns_table(report: MonitorReport) -> str:
    if not report.columns:
        return '<h2>Columns</h2><p class="note">no column was compared</p>'
    rows = [_drift_row(column, index) for index, column in enumerate(_ordered(report))]
    return (
        "<h2>Columns</h2><table><tr><th>column</th><th>kind</th><th>test</th>"
        "<th>statistic</th><th>threshold</th><th>drifted</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _drift_row(column: ColumnDrift, index: int | None) -> str:
    name = escape(column.name)
    link = f'<a href="#column-{index}">{name}</a>' if index is not None else name
    return (
        f'<tr class="{"drifted" if column.drifted else ""}"><td>{link}</td>'
        f"<td>{escape(column.kind)}</td><td>{escape(column.test)}</td>"
        f"<td>{_number(column.statistic)}</td><td>{_number(column.threshold)}</td>"
        f"<td>{'yes' if column.drifted else 'no'}</td></tr>"
    )


def _prediction_section(
    report: MonitorReport, profile: ColumnProfile | None, predictions: Sequence[Any]
) -> str:
    drift = report.prediction_drift
    if drift is None:
        return ""
    table = (
        "<h2>Prediction drift</h2><table><tr><th>output</th><th>kind</th><th>test</th>"
        f"<th>statistic</th><th>threshold</th><th>drifted</th></tr>{_drift_row(drift, None)}"
        "</table>"
    )
    if profile is None or not predictions:
        return table
    column = pa.chunked_array([pa.array(list(predictions))])
    return table + _chart(profile, column, drift.kind)


def _quality_section(report: MonitorReport) -> str:
    if not report.quality:
        return '<h2>Data quality</h2><p class="note">no findings</p>'
    items = "".join(f"<li>{escape(q.message)}</li>" for q in report.quality)
    return f"<h2>Data quality</h2><ul>{items}</ul>"


def _performance_section(report: MonitorReport) -> str:
    perf = report.performance
    head = "<h2>Performance</h2>"
    if not perf.available:
        head += f'<p class="note">not available: {escape(perf.reason or "unknown")}</p>'
    else:
        head += f'<p class="meta">{escape(perf.task or "")} on {perf.rows} labeled rows</p>'
    names = sorted(set(perf.metrics) | set(perf.training_metrics))
    if not names:
        return head
    rows = "".join(
        f"<tr><td>{escape(n)}</td><td>{_number(perf.metrics.get(n))}</td>"
        f"<td>{_number(perf.training_metrics.get(n))}</td></tr>"
        for n in names
    )
    return f"{head}<table><tr><th>metric</th><th>now</th><th>training</th></tr>{rows}</table>"


def _trend_section(report: MonitorReport, history: Sequence[MonitorReport]) -> str:
    reports = {r.id: r for r in history if r.target == report.target}
    reports.setdefault(report.id, report)
    figure = charts.trend_figure(list(reports.values()))
    if figure is None or len(reports) < 2:
        return '<h2>Drift over time</h2><p class="note">one report so far</p>'
    return f"<h2>Drift over time</h2>{charts.figure_html(figure)}"


def _distributions(report: MonitorReport, reference: Profile, current: pa.Table) -> str:
    parts = ["<h2>Distributions</h2>"]
    for index, column in enumerate(_ordered(report)):
        if index >= MAX_CHARTS:
            rest = len(report.columns) - MAX_CHARTS
            parts.append(f'<p class="note">{rest} more columns (see the table)</p>')
            break
        profile = reference.column(column.name)
        chart = (
            _chart(profile, current.column(column.name), column.kind)
            if profile is not None and column.name in current.column_names
            else '<p class="note">no data to draw</p>'
        )
        state = "drifted" if column.drifted else "no drift"
        parts.append(
            f'<div class="column" id="column-{index}"><h3>{escape(column.name)}</h3>'
            f'<p class="meta">{escape(column.test)} {_number(column.statistic)} (threshold '
            f"{_number(column.threshold)}): {state}</p>{chart}</div>"
        )
    return "".join(parts)


# -- helpers --------------------------------------------------------------------------------
def _chart(profile: ColumnProfile, column: pa.ChunkedArray, kind: str) -> str:
    try:
        figure = charts.column_figure(profile, column, kind)
    except Exception as exc:  # a chart that cannot be drawn never loses the report
        log.warning("no chart for column %r: %s", profile.name, exc)
        figure = None
    if figure is None:
        return '<p class="note">no data to draw</p>'
    return charts.figure_html(figure)


def _ordered(report: MonitorReport) -> list[ColumnDrift]:
    """Drifted columns first, then by name."""
    return sorted(report.columns.values(), key=lambda c: (not c.drifted, c.name))


def _target_name(report: MonitorReport) -> str:
    return report.target.removeprefix("deployment:")


def _number(value: Any) -> str:
    if value is None:
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return escape(str(value))
    return str(number) if not math.isfinite(number) else f"{number:.4g}"
