"""`loopml models ls|show|alias|compare|rm`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from loopml.cli.output import STATUS_STYLE, console, format_value, print_json

app = typer.Typer(help="List, inspect, alias and compare registered models.", no_args_is_help=True)
alias_app = typer.Typer(help="Move or remove a model's aliases (audited).", no_args_is_help=True)
app.add_typer(alias_app, name="alias")
MAX_METRIC_COLUMNS = 4
VERSION_STYLE = {"READY": "green", "ARCHIVED": "dim"}


def _ws() -> Any:
    from loopml.workspace import Workspace

    return Workspace.current()


def _aliases(aliases: Any) -> str:
    """`champion=3, challenger=4` from a model's alias -> version mapping."""
    return ", ".join(f"{a}={v}" for a, v in sorted(aliases.items())) or "-"


@app.command("ls")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every registered model with its latest version, aliases and description."""
    models = _ws().store.models.list_models()
    if as_json:
        print_json({"models": models})
        return
    if not models:
        console().print("no models yet: loopml.registry.register(NAME, model) in Python")
        return
    table = Table("name", "latest", "aliases", "description", "created", box=None)
    for m in models:
        table.add_row(
            m.name, str(m.latest_version), _aliases(m.aliases), escape(m.description or ""),
            f"{m.created_time:%Y-%m-%d %H:%M}",
        )  # fmt: skip
    console().print(table)


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME (all versions), NAME/VERSION or NAME@ALIAS."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A model and its versions, or one version with its signature, metrics and lineage."""
    ws = _ws()
    if "/" in ref or "@" in ref:
        _show_version(ws, ref, as_json)
    else:
        _show_model(ws, ref, as_json)


def _show_model(ws: Any, name: str, as_json: bool) -> None:
    model = ws.store.models.get_model(name)
    versions = ws.store.models.list_versions(name)
    if as_json:
        print_json({"model": model, "versions": versions})
        return
    out = console()
    out.print(
        f"[bold]{model.name}[/]  latest {model.latest_version}  aliases {_aliases(model.aliases)}"
    )
    if model.description:
        out.print(escape(model.description))
    if model.tags:
        out.print(_pairs("tags", model.tags))
    out.print(versions_table(versions))


def versions_table(versions: list[Any]) -> Table:
    keys = sorted({k for v in versions for k in v.metrics})[:MAX_METRIC_COLUMNS]
    table = Table(box=None, header_style="bold")
    for column in ("version", "status", "flavor", "aliases", "run", "created", *keys):
        table.add_column(column, no_wrap=True)
    for v in versions:
        style = VERSION_STYLE.get(v.status.value, "")
        table.add_row(
            str(v.version), f"[{style}]{v.status.value}[/]", v.flavor,
            ", ".join(v.aliases) or "-", (v.run_id or "-")[:8],
            f"{v.created_time:%Y-%m-%d %H:%M}",
            *(format_value(v.metrics.get(k), digits=4) for k in keys),
        )  # fmt: skip
    return table


def _show_version(ws: Any, ref: str, as_json: bool) -> None:
    from loopml.cli.model_lineage import model_lineage
    from loopml.registry.api import resolve

    version = resolve(ref, workspace=ws)
    lineage = model_lineage(ws, version)
    if as_json:
        print_json({"version": version, "lineage": lineage})
        return
    out = console()
    aliases = f"  @{', @'.join(version.aliases)}" if version.aliases else ""
    style = VERSION_STYLE.get(version.status.value, "")
    out.print(f"[bold]{version.uri}[/]{aliases}  [{style}]{version.status.value}[/]")
    out.print(
        f"flavor {version.flavor}, {version.size:,} bytes, digest {version.digest[:16]}, "
        f"registered {version.created_time:%Y-%m-%d %H:%M:%S} UTC"
    )
    if version.description:
        out.print(escape(version.description))
    out.print(signature_table(version.signature))
    for title, values in (("metrics", version.metrics), ("tags", version.tags)):
        if values:
            out.print(_pairs(title, values))
    _print_lineage(out, lineage)


def signature_table(signature: Any) -> Any:
    if signature is None:
        return "signature: none (inputs are passed to the model unchecked)"
    table = Table("column", "type", title="signature", box=None, title_justify="left")
    for column in signature.inputs:
        table.add_row(column.name, column.type)
    tensor = getattr(signature, "tensor", None)
    if tensor is not None:
        table.add_row("(tensor)", f"{tensor.dtype} [{', '.join(map(str, tensor.shape))}]")
    table.add_row("[dim]-> output[/]", f"[dim]{signature.output or 'unknown'}[/]")
    return table


def _pairs(title: str, values: Any) -> Table:
    table = Table("key", "value", title=title, box=None, title_justify="left")
    for key in sorted(values):
        table.add_row(escape(key), escape(format_value(values[key])))
    return table


def _print_lineage(out: Any, lineage: Any) -> None:
    out.print("[bold]lineage[/]")
    if lineage.run is None:
        gone = (
            f"run {lineage.run_id} (deleted)"
            if lineage.run_id
            else "no run (registered outside one)"
        )
        out.print(f"  trained by {gone}")
        return
    for label, run in (("trained by run", lineage.run), ("in pipeline run", lineage.pipeline_run)):
        if run is not None:
            style = STATUS_STYLE.get(run.status, "")
            name = escape(f"{run.name} ({run.project})")
            out.print(f"  {label} {run.id} [{style}]{run.status}[/] {name}")
    for d in lineage.datasets:
        out.print(f"  dataset {d.name}@{d.version} (digest {d.digest[:16]})")
    if not lineage.datasets:
        out.print("  no dataset versions recorded upstream")
    dirty = f" + uncommitted diff {lineage.diff_digest[:12]}" if lineage.diff_digest else ""
    out.print(f"  code {lineage.commit or 'no commit recorded'}{dirty}")


# -- aliases ------------------------------------------------------------------------------
@alias_app.command("set")
def set_alias(
    name: str = typer.Argument(..., help="Model name."),
    alias: str = typer.Argument(..., help="Alias, e.g. champion."),
    version: str = typer.Argument(..., help="Version number to point it at."),
    reason: str = typer.Option(None, "--reason", help="Why, for the audit trail."),
) -> None:
    """Point ALIAS at VERSION; prints where it pointed before."""
    from loopml.core.auth import local_actor

    models = _ws().store.models
    previous = models.set_alias(name, alias, version, actor=local_actor(), reason=reason)
    _moved(name, alias, previous, int(version))


@alias_app.command("rm")
def remove_alias(
    name: str = typer.Argument(..., help="Model name."),
    alias: str = typer.Argument(..., help="Alias to remove."),
    reason: str = typer.Option(None, "--reason", help="Why, for the audit trail."),
) -> None:
    """Remove ALIAS; prints the version it pointed at."""
    from loopml.core.auth import local_actor
    from loopml.core.names import validate_alias

    models = _ws().store.models
    previous = models.delete_alias(name, validate_alias(alias), actor=local_actor(), reason=reason)
    _moved(name, alias, previous, None)


def _moved(name: str, alias: str, before: int | None, after: int | None) -> None:
    def show(version: int | None) -> str:
        return "(none)" if version is None else f"{name}/{version}"

    console().print(f"{name}@{alias}: {show(before)} -> {show(after)}")


# -- compare ------------------------------------------------------------------------------
@app.command("compare")
def compare(
    candidate: str = typer.Argument(..., help="The candidate, e.g. NAME/4."),
    baseline: str = typer.Argument(..., help="What it must beat, e.g. NAME/3 or NAME@champion."),
    data: Path = typer.Option(..., "--data", help="Held-out data (CSV, Parquet, JSON Lines)."),
    label: str = typer.Option(..., "--label", help="The label column in --data."),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="Metrics; the first decides."),
    must_beat_by: float = typer.Option(0.0, "--must-beat-by", help="Required margin."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Evaluate both on the same data and gate the candidate; exit 1 when it does not pass."""
    names = metric or ["accuracy"]
    policy = {"metric": names[0], "must_beat_by": must_beat_by}
    decision = _gate(candidate, baseline, data=data, label=label, metrics=names, policy=policy)
    if as_json:
        print_json(decision)
    else:
        _print_decision(decision)
    if not decision.passed:
        raise typer.Exit(1)


def _gate(candidate: str, baseline: str, **kwargs: Any) -> Any:
    from loopml.core.errors import InvalidArgumentError, LoopmlError
    from loopml.registry.gate import compare as gate

    try:
        return gate(candidate, baseline, workspace=_ws(), **kwargs)
    except LoopmlError:
        raise
    except (ValueError, AttributeError) as exc:  # a metric that does not fit the model's kind
        metrics = ", ".join(kwargs["metrics"])
        raise InvalidArgumentError(f"cannot score {candidate} by {metrics}: {exc}") from exc


def _print_decision(decision: Any) -> None:
    out = console()
    table = Table("metric", decision.candidate, decision.baseline, "delta", box=None)
    base = decision.baseline_metrics or {}
    for name, value in decision.candidate_metrics.items():
        other = base.get(name)
        delta = None if other is None else value - other
        style = "bold" if name == decision.metric else ""
        table.add_row(name, format_value(value, 4), format_value(other, 4),
                      _signed(delta), style=style)  # fmt: skip
    out.print(table)
    verdict = "[green]PASS[/]" if decision.passed else "[red]FAIL[/]"
    out.print(f"{verdict}: {decision.candidate} against {decision.baseline} on {decision.metric}")
    for reason in decision.reasons:
        out.print(f"  - {escape(reason)}")


def _signed(delta: float | None) -> str:
    return "-" if delta is None else f"{delta:+.4g}"


@app.command("rm")
def remove(
    ref: str = typer.Argument(..., help="NAME/VERSION."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete one model version (audited). Refused while an alias points at it or a
    deployment routes traffic to it. Its files are freed by `loopml gc`."""
    from loopml.core.errors import InvalidArgumentError
    from loopml.registry import api

    name, _, version = ref.partition("/")
    if not version.isdigit():
        raise InvalidArgumentError(f"name the version to delete: {name}/VERSION, got {ref!r}")
    api.delete_version(name, int(version), workspace=_ws())
    if as_json:
        print_json({"deleted": {"name": name, "version": int(version)}})
        return
    print(f"deleted {name}/{version}; loopml gc frees its files")
