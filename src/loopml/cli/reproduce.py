"""`loopml reproduce NAME/VERSION`: re-run the pipeline behind a model version and report
every difference; exit 1 when it does not reproduce."""

from __future__ import annotations

import dataclasses
from typing import Any

import typer

from loopml.cli.output import console, print_json


def reproduce_command(
    model: str = typer.Argument(..., help="A model version: NAME/VERSION or NAME@ALIAS."),
    tolerance: float = typer.Option(
        1e-6, "--tolerance", help="How far a metric may be from the recorded one."
    ),
    relative: bool = typer.Option(
        False, "--relative", help="--tolerance is relative (of the recorded value)."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Refuse to run when the code (commit or uncommitted changes), the installed "
        "packages or a recorded dataset version differ from the record.",
    ),
    pipeline: str = typer.Option(
        None, "--pipeline", help="FILE.py:NAME to run, when the pipeline run does not record it."
    ),
    executor: str = typer.Option("local", "--executor", "-e", help="local, process or ray."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Re-run the pipeline that produced a model version, in the current checkout with the
    recorded parameters and no cache, and compare: git commit and uncommitted changes,
    installed packages, the data each step used (by digest) and every metric (of each step and
    of the model version) within --tolerance. The re-run is tagged loopml.reproduction_of; a
    version it registers is tagged and archived, and an alias it moves is put back. Exit 0
    when the metrics and data match, 1 when not (with --strict, also when code or packages
    differ, and nothing is run)."""
    from loopml.pipelines.reproduce import reproduce
    from loopml.workspace import Workspace

    report = reproduce(
        model,
        workspace=Workspace.current(),
        pipeline=pipeline,
        tolerance=tolerance,
        relative=relative,
        strict=strict,
        executor=executor,
    )
    if as_json:
        print_json({**dataclasses.asdict(report), "reproduced": report.reproduced})
    else:
        _print(report)
    if not report.reproduced:
        raise typer.Exit(1)


def _print(report: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    if report.reproduction_run is None:
        out.print(f"{report.model}: not run (--strict), the present differs from the record")
    else:
        out.print(
            f"{report.model}: pipeline run {report.pipeline_run[:12]} re-run as "
            f"{report.reproduction_run[:12]} ({escape(report.target)})"
        )
    if report.differences:
        table = Table(box=None, header_style="bold")
        for column in ("kind", "what", "recorded", "now", "fails", "detail"):
            table.add_column(column)
        for d in report.differences:
            table.add_row(
                d.kind, escape(d.what), escape(_text(d.recorded)), escape(_text(d.now)),
                "yes" if d.fails else "", escape(d.detail),
            )  # fmt: skip
        out.print(table)
    verdict = "[green]reproduced[/]" if report.reproduced else "[red]does not reproduce[/]"
    out.print(f"{report.model}: {verdict}")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)
