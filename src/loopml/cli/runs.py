"""`loopml runs ls|show|compare|delete|restore`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from loopml.cli.output import (
    STATUS_STYLE,
    console,
    format_duration,
    format_value,
    print_json,
    print_rows,
)

if TYPE_CHECKING:
    from rich.table import Table

app = typer.Typer(help="List, show and compare tracked runs.", no_args_is_help=True)
MAX_METRIC_COLUMNS = 4


def _workspace() -> Any:
    from loopml.workspace import Workspace

    return Workspace.current()


def resolve_run_id(runs: Any, run_id: str) -> str:
    """A full run id from a unique prefix of at least 4 characters (as `ls` prints 8)."""
    from loopml.core.errors import InvalidArgumentError, NotFoundError

    if len(run_id) >= 32:
        return run_id
    if len(run_id) < 4 or not run_id.isalnum():
        raise InvalidArgumentError(f"run id {run_id!r} is too short or malformed")
    matches = runs.search(filter=f"id LIKE '{run_id.lower()}%'", limit=2, view="all")
    if not matches:
        raise NotFoundError(f"run {run_id!r} not found")
    if len(matches) > 1:
        raise InvalidArgumentError(f"run id prefix {run_id!r} is ambiguous; give more characters")
    return matches[0].id


@app.command("ls")
def list_runs(
    project: list[str] = typer.Option(None, "--project", "-p", help="Only these projects."),
    filter: str = typer.Option(None, "--filter", "-f", help='e.g. "metrics.acc > 0.9".'),
    order_by: list[str] = typer.Option(None, "--order-by", "-o", help='e.g. "metrics.acc DESC".'),
    limit: int = typer.Option(50, "--limit", "-n", help="Runs per page."),
    page_token: str = typer.Option(None, "--page-token", help="Token printed by the last page."),
    deleted: bool = typer.Option(False, "--deleted", help="Only deleted runs (restorable)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List runs, newest first unless --order-by says otherwise. Ordering by a metric, param
    or tag that no run of these projects has is an error. Deleted runs show with --deleted."""
    runs = _workspace().store.runs
    view = "deleted" if deleted else "active"
    page = runs.search(project or None, filter, order_by, limit, page_token, view=view)
    if order_by and not page_token:
        check_order_keys(runs, project or None, order_by)
    if as_json:
        print_json({"runs": list(page), "next_page_token": page.next_page_token})
        return
    if not page:
        print("no runs match")
        return
    keys = sorted({k for run in page for k in run.metrics})[:MAX_METRIC_COLUMNS]
    several_projects = len({run.project for run in page}) > 1
    columns = ("id", "project", "name") if several_projects else ("id", "name")
    headers = (*columns, "status", "started", "duration", *keys)
    fixed = {"id": 8, "status": 8, "started": 19, "duration": 8}
    rows, styles = [], []
    for run in page:
        rows.append((
            run.id[:8],
            *([run.project] if several_projects else []),
            run.name,
            run.status.value,
            f"{run.start_time:%Y-%m-%d %H:%M:%S}",
            format_duration(run.duration_seconds),
            *(format_value(run.metrics.get(k), digits=4) for k in keys),
        ))  # fmt: skip
        status = STATUS_STYLE.get(run.status.value, "")
        styles.append([("" if h != "status" else status) for h in headers])
    # Printed without Rich: `runs ls` is typed often, and Rich's import and layout cost more
    # than the query (the same layout as a borderless Rich table).
    print_rows(headers, rows, widths=[fixed.get(h) for h in headers], styles=styles)
    if page.next_page_token:
        from loopml.core.command import loopml_command

        print(f"more: {loopml_command()} runs ls --page-token {page.next_page_token}")


def check_order_keys(runs: Any, projects: list[str] | None, order_by: list[str]) -> None:
    """Refuse ordering by a metric, param or tag that no run of `projects` has: the order
    would silently be no order at all (a typo such as `metrics.acurracy`)."""
    from loopml.core.errors import InvalidArgumentError
    from loopml.store.filters import parse_order_by

    for clause in parse_order_by(order_by):
        kind, key = clause.field.kind, clause.field.key
        if kind == "attribute" or ("`" in key and '"' in key):
            continue
        quoted = f"`{key}`" if "`" not in key else f'"{key}"'
        probe = f"{kind}.{quoted} >= -inf" if kind == "metrics" else f"{kind}.{quoted} LIKE '%'"
        if not runs.search(projects, probe, None, 1, None):
            where = f"in project {', '.join(projects)}" if projects else "in any project"
            raise InvalidArgumentError(
                f"--order-by {kind}.{key}: no run {where} has the {kind[:-1]} {key!r}"
            )


@app.command("show")
def show_run(
    run_id: str = typer.Argument(..., help="The run id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one run: status, code, params, latest metrics, tags, inputs and artifacts."""
    runs = _workspace().store.runs
    run_id = resolve_run_id(runs, run_id)
    run, artifacts, inputs = runs.get(run_id), runs.artifacts(run_id), runs.inputs(run_id)
    if as_json:
        print_json({"run": run, "artifacts": artifacts, "inputs": inputs})
        return
    out = console()
    style = STATUS_STYLE.get(run.status.value, "")
    status = f"[{style}]{run.status.value}[/]"
    duration = format_duration(run.duration_seconds)
    out.print(f"[bold]{run.name}[/]  {run.id}  project [bold]{run.project}[/]  {status}")
    out.print(f"started {run.start_time:%Y-%m-%d %H:%M:%S} UTC, duration {duration}")
    if run.deleted_time is not None:
        out.print(f"[red]deleted[/] {run.deleted_time:%Y-%m-%d %H:%M:%S} UTC (loopml runs restore)")
    if run.description:
        out.print(run.description, markup=False, highlight=False)
    if run.code.commit:
        dirty = f" + diff {run.code.diff_digest[:12]}" if run.code.diff_digest else ""
        out.print(f"code {run.code.commit[:12]}{dirty}")
    out.print(f"python {run.python_version or '-'}, environment {(run.env_digest or '-')[:12]}")
    if run.error:
        out.print(f"[red]error:[/] {run.error.strip().splitlines()[-1]}")
    for title, values in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
        if values:
            out.print(_pairs(title, values))
    if inputs:
        out.print(_pairs("inputs", {f"{i.kind}:{i.name}": i.version for i in inputs}))
    if artifacts:
        from rich.table import Table

        table = Table("artifact", "type", "size", "digest", title="artifacts", box=None)
        for a in artifacts:
            table.add_row(a.name, a.serializer, f"{a.size:,}", a.digest[:12])
        out.print(table)


def _pairs(title: str, values: dict[str, Any]) -> Table:
    from rich.table import Table

    table = Table("key", "value", title=title, box=None, title_justify="left")
    for key in sorted(values):
        table.add_row(key, format_value(values[key]))
    return table


@app.command("compare")
def compare_runs(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Params and latest metrics side by side; rows that differ are highlighted."""
    store = _workspace().store.runs
    runs = [store.get(resolve_run_id(store, run_id)) for run_id in run_ids]
    if as_json:
        print_json({"runs": runs})
        return
    console().print(comparison_table(runs))


def comparison_table(runs: list[Any]) -> Table:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("", no_wrap=True)
    for run in runs:
        table.add_column(f"{run.name}\n{run.id[:8]}", justify="right", overflow="fold")
    for section in ("params", "metrics"):
        keys = sorted({k for run in runs for k in getattr(run, section)})
        for key in keys:
            values = [getattr(run, section).get(key) for run in runs]
            differs = len({format_value(v) for v in values}) > 1
            style = "bold yellow" if differs else "dim"
            table.add_row(f"{section}.{key}", *(format_value(v) for v in values), style=style)
    return table


@app.command("delete")
def delete_run(
    run_id: str = typer.Argument(..., help="The run id (or a unique prefix)."),
) -> None:
    """Delete a run: hidden from `runs ls` and search, restorable until `loopml gc` purges it
    (after its --older-than retention, 30 days by default)."""
    from loopml.tracking.lifecycle import delete_run as delete

    ws = _workspace()
    run = delete(ws, resolve_run_id(ws.store.runs, run_id))
    print(f"deleted run {run.id} ({run.name}); undo with: loopml runs restore {run.id}")


@app.command("restore")
def restore_run(
    run_id: str = typer.Argument(..., help="The run id (or a unique prefix)."),
) -> None:
    """Bring a deleted run back (until `loopml gc` has purged it)."""
    from loopml.tracking.lifecycle import restore_run as restore

    ws = _workspace()
    run = restore(ws, resolve_run_id(ws.store.runs, run_id))
    print(f"restored run {run.id} ({run.name})")
