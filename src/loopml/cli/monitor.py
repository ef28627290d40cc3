"""`loopml monitor DEPLOYMENT`: check its recent traffic for drift against its reference, print
the verdict (or the report as JSON), optionally write an HTML report; `--history` lists the
stored reports.

Exit codes: 0 whatever the verdict, 1 on an error, 2 with `--fail-on-drift` when the dataset
drifted (for CI gates and cron jobs).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from loopml.cli.output import console, format_value, print_json, time_option

DRIFT_EXIT = 2


def monitor_command(
    deployment: str = typer.Argument(..., help="The deployment whose traffic to check."),
    window: int = typer.Option(None, "--window", "-n", help="The last N predictions "
                               "(default 10,000)."),
    since: str = typer.Option(None, "--since", help="Predictions from this ISO 8601 time on "
                              "(UTC unless it says otherwise); overrides --window."),
    reference: str = typer.Option(None, "--reference", "-r", help="NAME@VERSION of a dataset "
                                  "(default: the model's training data, through lineage)."),
    html: Path = typer.Option(None, "--html", help="Also write a self-contained HTML report."),
    history: bool = typer.Option(False, "--history", help="List the stored reports instead."),
    limit: int = typer.Option(20, "--limit", help="Reports listed by --history."),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit 2 when the "
                                       "dataset drifted."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:  # fmt: skip
    """Check a deployment's traffic for drift; exit 0 unless an error (2 with --fail-on-drift
    when the dataset drifted)."""
    if history:
        _history(deployment, limit, as_json)
        return
    from loopml.monitoring.api import check_with_data

    options: dict[str, Any] = {"reference": reference, "since": time_option("--since", since)}
    if window is not None or since is not None:
        options["window"] = window  # --since alone: every prediction since then
    checked = check_with_data(deployment, **options)
    if html is not None:
        _write_html(checked, html, quiet=as_json)
    if as_json:
        print_json(checked.report)
    else:
        print_report(checked.report)
    if fail_on_drift and checked.report.dataset_drift:
        raise typer.Exit(DRIFT_EXIT)


def _write_html(checked: Any, path: Path, *, quiet: bool) -> None:
    from loopml.monitoring.api import history
    from loopml.monitoring.html import render_html

    page = render_html(
        checked.report, checked.reference, checked.current,
        history=history(checked.report.target, limit=200),
        prediction_reference=checked.prediction_reference, predictions=checked.predictions,
    )  # fmt: skip
    partial = path.with_name(path.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(path)
    message = f"HTML report written to {path}"
    if quiet:  # stdout is the JSON
        print(message, file=sys.stderr)
    else:
        console().print(message, style="dim")


# -- the summary ----------------------------------------------------------------------------
def print_report(report: Any) -> None:
    out = console()
    target = report.target.removeprefix("deployment:")
    out.print(f"[bold]{_e(target)}[/bold]" + (f"  model {_e(report.model)}" if report.model
                                              else ""))  # fmt: skip
    out.print(f"reference: {_e(report.reference)} ({report.reference_rows} rows)", style="dim")
    out.print(f"current:   {_e(report.current)} ({report.current_rows} rows)", style="dim")
    out.print(_verdict(report))
    if report.alerts:
        out.print(f"[bold red]alerts fired:[/bold red] {_e(', '.join(report.alerts))}")
    if report.columns:
        out.print(_columns(report))
    _print_prediction(report)
    _print_quality(report)
    _print_performance(report)


def _verdict(report: Any) -> str:
    drifted, total = len(report.drifted_columns), len(report.columns)
    share, threshold = f"{report.drift_share:.0%}", f"{report.drift_threshold:.0%}"
    if report.dataset_drift:
        head, relation = "[bold red]dataset drift: yes[/bold red]", ">="
    else:
        head, relation = "[bold green]dataset drift: no[/bold green]", "<"
    return (
        f"{head} - {drifted} of {total} columns drifted ({share} {relation} threshold {threshold})"
    )


def _columns(report: Any) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("column", "kind", "test", "statistic", "threshold", "drifted"):
        table.add_column(column, no_wrap=True)
    ordered = sorted(report.columns.values(), key=lambda c: (not c.drifted, c.name))
    for c in ordered:
        table.add_row(
            _e(c.name),
            c.kind,
            c.test,
            _number(c.statistic),
            _number(c.threshold),
            "yes" if c.drifted else "no",
            style="bold red" if c.drifted else None,
        )
    return table


def _print_prediction(report: Any) -> None:
    drift = report.prediction_drift
    if drift is None:
        console().print("prediction drift: not computed", style="dim")
        return
    state = "[bold red]yes[/bold red]" if drift.drifted else "[green]no[/green]"
    console().print(f"prediction drift: {state} ({drift.test} {_number(drift.statistic)}, "
                    f"threshold {_number(drift.threshold)})")  # fmt: skip


def _print_quality(report: Any) -> None:
    out = console()
    if not report.quality:
        out.print("data quality: no findings")
        return
    out.print(f"data quality: {len(report.quality)} finding(s)")
    for finding in report.quality:
        out.print(f"  [yellow]{_e(finding.kind)}[/yellow] {_e(finding.message)}")


def _print_performance(report: Any) -> None:
    perf, out = report.performance, console()
    if perf.available:
        version = f" of {_e(report.model)}" if report.model else ""
        out.print(f"performance{version}: {perf.task} on {perf.rows} labeled predictions")
    else:
        out.print(f"performance: not available ({_e(perf.reason or 'unknown')})")
    names = sorted(set(perf.metrics) | set(perf.training_metrics))
    if not names:
        return
    table = Table(box=None, header_style="bold")
    for column in ("metric", "now", "training"):
        table.add_column(column, no_wrap=True)
    for name in names:
        table.add_row(_e(name), _number(perf.metrics.get(name)),
                      _number(perf.training_metrics.get(name)))  # fmt: skip
    out.print(table)
    for uri, other in sorted(report.versions.items()):
        if uri != report.model:  # a canary or shadow, scored on its own answers
            out.print(f"  {_e(uri)}: {_e(headline(other))} on {other.rows} labels")
    guess = report.estimated
    if guess is not None and guess.available:
        values = ", ".join(f"{k} {_number(v)}" for k, v in guess.metrics.items())
        out.print(f"estimated from probabilities (no labels needed): {_e(values)} "
                  f"on {guess.rows} predictions")  # fmt: skip


# -- --history ------------------------------------------------------------------------------
def _history(deployment: str, limit: int, as_json: bool) -> None:
    from loopml.workspace import Workspace

    store = Workspace.current().store
    store.deployments.get(deployment)  # an unknown name is an error, not "none"
    reports = store.monitoring.list(f"deployment:{deployment}", limit)
    if as_json:
        print_json({"reports": reports})
        return
    if not reports:
        from loopml.core.command import loopml_command

        hint = f"{loopml_command()} monitor {deployment}"
        console().print(f"no reports for {deployment} yet: run '{hint}'")
        return
    table = Table(box=None, header_style="bold")
    for column in ("time", "id", "drift share", "dataset drift", "drifted columns",
                   "performance"):  # fmt: skip
        table.add_column(column, no_wrap=column != "drifted columns")
    for r in reports:
        table.add_row(
            f"{r.time:%Y-%m-%d %H:%M:%S}",
            r.id[:8],
            f"{r.drift_share:.0%}",
            "yes" if r.dataset_drift else "no",
            _e(", ".join(r.drifted_columns) or "-"),
            _e(headline(r.performance)),
            style="red" if r.dataset_drift else None,
        )
    console().print(table)


def headline(perf: Any) -> str:
    """One metric of a Performance with its training value, e.g. 'accuracy 0.91 (train 0.97)'."""
    if not perf.available or not perf.metrics:
        return "-"
    name = next(iter(perf.metrics))
    trained = perf.training_metrics.get(name)
    suffix = f" (train {_number(trained)})" if trained is not None else ""
    return f"{name} {_number(perf.metrics[name])}{suffix}"


def _number(value: Any) -> str:
    try:
        return format_value(float(value), 4)
    except (TypeError, ValueError):
        return format_value(value)


def _e(text: Any) -> str:
    from rich.markup import escape

    return escape(str(text))
