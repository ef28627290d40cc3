"""`loopml deployments create|ls|show|canary|shadow|promote|rollback` and `loopml serve`."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from loopml.cli.output import console, print_json

app = typer.Typer(help="Deployments: which model versions serve a name.", no_args_is_help=True)
REASON = typer.Option(None, "--reason", "-r", help="Why: kept in the audit trail.")


def _api() -> Any:
    from loopml.serving import deployments

    return deployments


def _print(deployment: Any) -> None:
    out = console()
    out.print(f"deployment {deployment.name} (revision {deployment.revision})")
    table = Table(box=None, header_style="bold")
    for column in ("route", "model", "traffic", "asked for"):
        table.add_column(column, no_wrap=True)
    canary = deployment.canary.weight if deployment.canary else 0.0
    for route in deployment.routes:
        share = {"primary": 1 - canary, "canary": route.weight, "shadow": 0.0}[route.mode.value]
        label = "copy" if route.mode.value == "shadow" else f"{share:.0%}"
        table.add_row(route.mode.value, route.uri, label, route.ref or "")
    out.print(table)


@app.command("create")
def create(
    name: str, model: str = typer.Option(..., "--model", "-m", help="e.g. iris-clf@champion"),
    reason: str = REASON,
) -> None:  # fmt: skip
    """Create a deployment serving MODEL."""
    _print(_api().create(name, model, reason=reason))


@app.command("ls")
def list_deployments(as_json: bool = typer.Option(False, "--json")) -> None:
    """List deployments."""
    found = _api().list_deployments()
    if as_json:
        print_json({"deployments": found})
        return
    if not found:
        console().print("no deployments")
        return
    table = Table(box=None, header_style="bold")
    for column in ("name", "primary", "canary", "shadow", "revision", "updated"):
        table.add_column(column, no_wrap=True)
    for d in found:
        canary = f"{d.canary.uri} ({d.canary.weight:.0%})" if d.canary else ""
        table.add_row(d.name, d.primary.uri, canary, d.shadow.uri if d.shadow else "",
                      str(d.revision), f"{d.updated_time:%Y-%m-%d %H:%M:%S}")  # fmt: skip
    console().print(table)


@app.command("show")
def show(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """A deployment's routes and its history of changes."""
    api = _api()
    deployment, history = api.get(name), api.history(name)
    if as_json:
        print_json({"deployment": deployment, "revisions": history})
        return
    _print(deployment)
    table = Table(box=None, header_style="bold", title="history")
    for column in ("rev", "when", "who", "action", "routes", "reason"):
        table.add_column(column)
    for rev in reversed(history):
        routes = ", ".join(f"{r.mode.value}={r.uri}" for r in rev.routes)
        table.add_row(str(rev.revision), f"{rev.time:%Y-%m-%d %H:%M:%S}", rev.actor,
                      rev.action, routes, rev.reason or "")  # fmt: skip
    console().print(table)


@app.command("canary")
def canary(
    name: str, model: str, traffic: float = typer.Option(0.1, "--traffic", "-t"),
    remove: bool = typer.Option(False, "--remove", help="Remove the canary instead."),
    reason: str = REASON,
) -> None:  # fmt: skip
    """Send a share of the traffic (default 10%) to MODEL."""
    api = _api()
    if remove:
        _print(api.remove(name, "canary", reason=reason))
    else:
        _print(api.set_canary(name, model, traffic, reason=reason))


@app.command("shadow")
def shadow(
    name: str, model: str = typer.Argument(None),
    remove: bool = typer.Option(False, "--remove", help="Remove the shadow instead."),
    reason: str = REASON,
) -> None:  # fmt: skip
    """Copy every request to MODEL; its answers are logged, never returned."""
    api = _api()
    if remove:
        _print(api.remove(name, "shadow", reason=reason))
    elif model is None:
        raise typer.BadParameter("give the MODEL to shadow, or --remove")
    else:
        _print(api.set_shadow(name, model, reason=reason))


@app.command("promote")
def promote(name: str, reason: str = REASON) -> None:
    """Make the canary the primary."""
    _print(_api().promote(name, reason=reason))


@app.command("rollback")
def rollback(name: str, reason: str = REASON) -> None:
    """Drop the canary, or undo the last change."""
    _print(_api().rollback(name, reason=reason))


def serve_command(
    deployment: str = typer.Argument(..., help="The deployment to serve."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8080, "--port", "-p"),
    batch_max_rows: int = typer.Option(0, "--batch-max-rows", help="Micro-batching: 0 is off."),
    batch_max_wait_ms: float = typer.Option(2.0, "--batch-max-wait-ms"),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds per request."),
    max_body_mb: float = typer.Option(1.0, "--max-body-mb"),
    trust: bool = typer.Option(False, "--trust", help="Allow pickle-based models."),
    allowed_host: list[str] = typer.Option(
        None,
        "--allowed-host",
        help="A Host header value "
        "to answer besides this machine's own names "
        "(repeatable; '*' for any).",
    ),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="Pass null/NaN in numeric columns to the model (else 422)."
    ),
    threads: int = typer.Option(4, "--threads", help="Model worker threads per process."),
    workers: int = typer.Option(
        1, "--workers", "-w", help="Serving processes (sharing the port, log and /metrics)."
    ),
) -> None:
    """Serve a deployment over HTTP (REST /predict and Open Inference Protocol v2)."""
    import os

    from loopml.serving.server import serve
    from loopml.serving.service import ServeSettings

    settings = ServeSettings(
        max_body_bytes=int(max_body_mb * (1 << 20)), request_timeout=timeout,
        batch_max_rows=batch_max_rows, batch_max_wait=batch_max_wait_ms / 1000, trust=trust,
        token=os.environ.get("LOOPML_SERVE_TOKEN") or None,
        allowed_hosts=tuple(allowed_host or ()), allow_missing=allow_missing, threads=threads,
        workers=workers,
    )  # fmt: skip

    def listening(url: str) -> None:
        console().print(f"serving {deployment} on {url}", style="dim")

    serve(deployment, host=host, port=port, settings=settings, on_listening=listening)


def predict_command(
    model: str = typer.Argument(..., help="NAME@ALIAS, NAME/VERSION or NAME."),
    input: str = typer.Option(..., "--input", "-i", help="A Parquet/CSV/JSONL file or folder."),
    output: str = typer.Option(..., "--output", "-o", help="The Parquet file to write."),
    executor: str = typer.Option("local", "--executor", "-e", help="local or ray."),
    chunk_rows: int = typer.Option(100_000, "--chunk-rows", help="Rows per model call."),
    trust: bool = typer.Option(False, "--trust", help="Allow pickle-based models."),
) -> None:
    """Batch prediction: stream files through a model into one Parquet file."""
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from loopml.serving.batch import count_rows, input_files, predict_batch

    total = count_rows(input_files(Path(input)))
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True, console=console()) as bar:
        task = bar.add_task("rows", total=total)
        result = predict_batch(
            model, input, output, chunk_rows=chunk_rows, executor=executor, trust=trust,
            progress=lambda rows: bar.advance(task, rows),
        )  # fmt: skip
    console().print(
        f"{result.rows} predictions from {result.files} file(s) by {result.model}/"
        f"{result.version} -> {result.output}"
    )
