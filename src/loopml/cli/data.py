"""`loopml data add|ls|show|diff|validate|get|schema|from-feedback|rm`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from loopml.cli.output import console, format_value, print_json, time_option

if TYPE_CHECKING:
    from rich.table import Table

app = typer.Typer(help="Version, inspect and validate datasets.", no_args_is_help=True)


def _ws() -> Any:
    from loopml.workspace import Workspace

    return Workspace.current()


def split_ref(ref: str) -> tuple[str, str]:
    """NAME[@VERSION] -> (name, version or "latest")."""
    name, _, version = ref.partition("@")
    return name, version or "latest"


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Dataset name."),
    path: Path = typer.Argument(..., help="A file (CSV, Parquet, JSON Lines, any) or folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Version a file or folder; identical content makes no new version."""
    from loopml.cli.progress import progress_bar  # rich.progress: only for the commands with bars
    from loopml.data import versions

    with progress_bar() as bar:
        record = versions.add_version(_ws(), name, path, progress=bar)
    if as_json:
        print_json(record)
        return
    verb = "added" if record.created else "unchanged, still"
    # Plain print: a re-add of an unchanged folder is quick, and Rich would double its time.
    print(
        f"{verb} {record.name}@{record.version} ({record.files} files, "
        f"{_size(record.size)}, {record.format}) digest {record.digest[:12]}"
    )


@app.command("ls")
def list_datasets(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every dataset with its latest version."""
    records = _ws().store.datasets.list_latest()
    if as_json:
        print_json({"datasets": records})
        return
    if not records:
        from loopml.core.command import loopml_command

        console().print(f"no datasets yet: {loopml_command()} data add NAME PATH")
        return
    from rich.table import Table

    table = Table("name", "latest", "files", "size", "format", "digest", "added", box=None)
    for r in records:
        table.add_row(
            r.name, str(r.version), str(r.files), _size(r.size), r.format, r.digest[:12],
            f"{r.created_time:%Y-%m-%d %H:%M}",
        )  # fmt: skip
    console().print(table)


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A version's files, schema and statistics profile."""
    from loopml.data import api

    name, version = split_ref(ref)
    ws = _ws()
    record = api.get(name, version, workspace=ws)
    lineage = api.lineage(name, record.version, workspace=ws)
    if as_json:
        print_json({"version": record, "consumer_run_ids": lineage.consumer_run_ids})
        return
    out = console()
    out.print(
        f"[bold]{record.name}@{record.version}[/]  {record.files} files, {_size(record.size)}, "
        f"{record.format}, digest {record.digest}"
    )
    if record.producer_run_id:
        out.print(f"produced by run {record.producer_run_id}")
    if lineage.consumer_run_ids:
        out.print(f"used by runs {', '.join(r[:8] for r in lineage.consumer_run_ids)}")
    if record.profile is not None:
        out.print(_profile_table(record))


def _profile_table(record: Any) -> Table:
    from rich.table import Table

    table = Table(
        "column", "type", "nulls", "min", "mean", "max", "std / top values",
        title=f"{record.profile.rows:,} rows", box=None, title_justify="left",
    )  # fmt: skip
    schema = {c.name: c for c in record.schema.columns} if record.schema else {}
    for col in record.profile.columns:
        kind = str(schema[col.name].type) if col.name in schema else str(col.type)
        extra = format_value(col.std, 4) if col.std is not None else ""
        if col.top:
            extra = ", ".join(f"{value} ({count})" for value, count in col.top[:3])
        table.add_row(
            col.name, kind, str(col.nulls), format_value(col.min, 4), format_value(col.mean, 4),
            format_value(col.max, 4), extra,
        )  # fmt: skip
    return table


@app.command("diff")
def diff(
    name: str = typer.Argument(...),
    old: str = typer.Argument(..., help="Old version."),
    new: str = typer.Argument("latest", help="New version (default: latest)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Files added, removed and changed; schema changes; the biggest statistic shifts."""
    from loopml.data import api

    result = api.diff(name, old, new, workspace=_ws())
    if as_json:
        print_json(result)
        return
    out = console()
    out.print(
        f"[bold]{name}[/] v{result.old} -> v{result.new}  rows {result.rows[0]} -> {result.rows[1]}"
    )
    for label, paths, style in (
        ("+", result.added, "green"),
        ("-", result.removed, "red"),
        ("~", result.changed, "yellow"),
    ):
        for path in paths:
            out.print(f"  [{style}]{label} {path}[/]")
    for change in result.schema_changes:
        out.print(f"  schema: {change}")
    if result.shifts:
        from rich.table import Table

        table = Table("column", "statistic", "old", "new", title="biggest shifts", box=None)
        for s in result.shifts:
            table.add_row(s.column, s.statistic, format_value(s.old, 4), format_value(s.new, 4))
        out.print(table)


@app.command("validate")
def validate(
    name: str = typer.Argument(..., help="Dataset whose schema to check against (NAME[@VERSION])."),
    path: Path = typer.Argument(..., help="The data to check (CSV, Parquet, JSON Lines)."),
    schema: Path = typer.Option(None, "--schema", help="A pinned schema YAML instead."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check data against a version's schema; exit 1 when there are errors."""
    from loopml.data import api

    dataset, version = split_ref(name)
    report = api.validate(dataset, path, version, schema=schema, workspace=_ws())
    if as_json:
        print_json({"ok": report.ok, "report": report})
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: Any) -> None:
    out = console()
    if not report.anomalies:
        out.print(f"[green]ok[/]: {report.rows:,} rows match {report.dataset}@{report.version}")
        return
    from rich.table import Table

    table = Table("severity", "column", "anomaly", "count", "detail", box=None)
    for a in report.anomalies:
        style = "red" if a.severity == "error" else "yellow"
        table.add_row(f"[{style}]{a.severity}[/]", a.column or "-", a.kind, str(a.count), a.message)
    out.print(table)
    verdict = (
        "[green]ok[/] (warnings only)" if report.ok else f"[red]{len(report.errors)} error(s)[/]"
    )
    out.print(f"{verdict}: {report.rows:,} rows against {report.dataset}@{report.version}")


@app.command("get")
def get(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION."),
    dest: Path = typer.Argument(..., help="Folder to write the files into."),
) -> None:
    """Write a version's files out, each verified by digest."""
    from loopml.cli.progress import progress_bar
    from loopml.data import api

    name, version = split_ref(ref)
    with progress_bar() as bar:
        api.download(name, dest, version, workspace=_ws(), progress=bar)
    console().print(f"wrote {ref} to {dest}")


@app.command("schema")
def schema(ref: str = typer.Argument(..., help="NAME or NAME@VERSION.")) -> None:
    """Print a version's schema as YAML, to edit and pin with `data validate --schema`."""
    from loopml.core.errors import InvalidArgumentError
    from loopml.data.schema import dump_schema_yaml

    name, version = split_ref(ref)
    record = _ws().store.datasets.get_version(name, version)
    if record.schema is None:
        raise InvalidArgumentError(f"{name}@{record.version} is not tabular and has no schema")
    print(dump_schema_yaml(record.schema), end="")


@app.command("from-feedback")
def from_feedback(
    deployment: str = typer.Argument(..., help="The deployment whose served predictions to take."),
    name: str = typer.Option(None, "--name", help="Dataset name (default DEPLOYMENT-feedback)."),
    since: str = typer.Option(None, "--since", help="Predictions from this ISO 8601 time on "
                              "(UTC unless it says otherwise)."),
    until: str = typer.Option(None, "--until", help="Predictions before this ISO 8601 time."),
    all_rows: bool = typer.Option(False, "--all", help="Unlabelled predictions too."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:  # fmt: skip
    """Version served predictions with their /feedback labels (features, prediction, label,
    ids, times); the same rows make no new version."""
    from loopml.data import feedback

    window = {"since": time_option("--since", since), "until": time_option("--until", until)}
    made = feedback.build(_ws(), deployment, name, labelled_only=not all_rows, **window)
    record, source = made.version, made.source
    if as_json:
        print_json({"created": record.created, "version": record, "source": source})
        return
    verb = "added" if record.created else "unchanged, still"
    console().print(
        f"{verb} [bold]{record.name}@{record.version}[/] ({source.rows:,} predictions of "
        f"{deployment}, {_size(record.size)}) digest {record.digest[:12]}"
    )


@app.command("rm")
def remove(
    ref: str = typer.Argument(..., help="NAME@VERSION (a version must be named)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete one dataset version (audited; its number is never reused). Its files are freed
    by `loopml gc` once nothing else refers to them."""
    from loopml.core.errors import InvalidArgumentError
    from loopml.data import api

    name, version = split_ref(ref)
    if not version.isdigit():
        raise InvalidArgumentError(f"name the version to delete: {name}@VERSION, got {ref!r}")
    api.delete(name, int(version), workspace=_ws())
    if as_json:
        print_json({"deleted": {"name": name, "version": int(version)}})
        return
    print(f"deleted {name}@{version}; loopml gc frees its files")
