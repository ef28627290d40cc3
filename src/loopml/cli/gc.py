"""`loopml gc` and `loopml predictions forget`: retention and deletion."""

from __future__ import annotations

import typer

from loopml.cli.output import print_json
from loopml.core.units import format_size

predictions_app = typer.Typer(help="Delete logged predictions (retention, erasure requests).",
                              no_args_is_help=True)  # fmt: skip


def gc_command(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count only; delete nothing."),
    older_than: str = typer.Option(
        "30d", "--older-than", help="Purge runs deleted longer ago than this (e.g. 30d, 12h)."
    ),
    grace: str = typer.Option(
        "1h", "--grace", help="Never collect blobs written more recently than this."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Apply retention and free storage: purge runs deleted longer ago than --older-than,
    delete each deployment's predictions older than its `retention:` in loopml.yaml, then
    delete the blobs nothing refers to (written before --grace), and report the bytes freed."""
    from loopml.automation.retention import collect_garbage
    from loopml.core.retention import parse_duration
    from loopml.workspace import Workspace

    retention = parse_duration(older_than, "--older-than")
    grace_seconds = parse_duration(grace, "--grace")
    report = collect_garbage(
        Workspace.current(), older_than=retention, grace=grace_seconds, dry_run=dry_run
    )
    if as_json:
        print_json({"gc": report})
        return
    verb = "would free" if dry_run else "freed"
    runs = "would purge" if dry_run else "purged"
    print(f"{runs} {len(report.purged_runs)} deleted run(s)")
    for deployment, count in report.expired_predictions.items():
        print(f"{deployment}: {count} prediction(s) past retention")
    print(
        f"{verb} {report.blobs_deleted} blob(s), {format_size(report.bytes_freed)} "
        f"({report.bytes_freed} bytes); kept {report.blobs_kept}, "
        f"{report.blobs_young} recent unreferenced blob(s) left for a later gc"
    )


@predictions_app.command("forget")
def forget_command(
    deployment: str = typer.Option(..., "--deployment", "-d", help="The deployment."),
    column: str = typer.Option(..., "--column", help="The feature to match, e.g. customer_id."),
    value: str = typer.Option(..., "--value", help="Delete predictions whose feature is this."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete every prediction of DEPLOYMENT whose feature COLUMN equals VALUE (42 matches
    the number or the text), with its feedback labels. Audited with the column and the
    counts, never the value. Feedback datasets built from the deployment are listed: they
    may hold copies (delete them with `loopml data rm`)."""
    from loopml.automation.retention import forget
    from loopml.workspace import Workspace

    report = forget(Workspace.current(), deployment, column, value)
    if as_json:
        print_json({"forget": report})
        return
    print(
        f"deleted {report.predictions} prediction(s) and {report.labels} label(s) of "
        f"{deployment} where {column} = the value given"
    )
    if report.feedback_datasets:
        print("feedback datasets built from this deployment may hold copies: "
              + ", ".join(report.feedback_datasets)
              + " (loopml data rm NAME@VERSION, then rebuild)")  # fmt: skip
