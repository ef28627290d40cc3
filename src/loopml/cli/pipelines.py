"""`loopml pipeline run|ls|show` and `loopml lineage`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.tree import Tree

from loopml.cli.output import STATUS_STYLE, console, format_duration, print_json, write_file
from loopml.cli.runs import resolve_run_id

app = typer.Typer(help="Run pipelines and look at their runs.", no_args_is_help=True)
STEP_STYLE = {**STATUS_STYLE, "PENDING": "dim", "SKIPPED": "dim", "CACHED": "blue"}


def _workspace(create: bool = False) -> Any:
    from loopml.workspace import Workspace

    return Workspace.current(create=create)


def parse_params(pipeline: Any, pairs: list[str]) -> dict[str, Any]:
    """--param k=v values, read as YAML scalars and converted to the parameter's annotated
    type (int, float, bool, str, or Optional of one); a value that is not one is an error
    here, before any step runs. The steps' own annotations are checked when the graph is
    built (also before anything runs)."""
    import yaml

    from loopml.core.errors import InvalidArgumentError

    hints = _hints(pipeline)
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--param takes KEY=VALUE, got {pair!r}")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        params[key] = _convert(key, text, value, hints.get(key))
    return params


def _hints(pipeline: Any) -> dict[str, Any]:
    import typing

    try:
        return typing.get_type_hints(pipeline.fn)
    except Exception:  # an annotation that does not resolve: take the plain ones
        return {name: p.annotation for name, p in pipeline.signature.parameters.items()
                if isinstance(p.annotation, type)}  # fmt: skip


def _convert(key: str, text: str, value: Any, wanted: Any) -> Any:
    import types
    import typing

    from loopml.core.errors import InvalidArgumentError

    options = typing.get_args(wanted)
    if typing.get_origin(wanted) in (typing.Union, types.UnionType):
        if value is None and type(None) in options:
            return None
        plain = [o for o in options if o is not type(None)]
        wanted = plain[0] if len(plain) == 1 else None
    if wanted is str:
        return text
    if wanted is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if wanted in (int, bool) and type(value) is wanted:
        return value
    if wanted in (int, float, bool):
        raise InvalidArgumentError(
            f"--param {key}={text}: {key!r} is {wanted.__name__}, and {text!r} is not one"
        )
    return value


@app.command("run")
def run_pipeline(
    target: str = typer.Argument(..., help="FILE.py:PIPELINE"),
    param: list[str] = typer.Option(None, "--param", "-p", help="KEY=VALUE, repeatable."),
    executor: str = typer.Option("local", "--executor", "-e", help="local, process or ray."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute every step."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    id_file: Path = typer.Option(None, "--id-file", help="Also write the pipeline run's id "
                                 "to this file (for a later step of a CI job)."),
) -> None:  # fmt: skip
    """Run a pipeline with a live view of its steps; exit 1 if a step failed."""
    from rich.live import Live

    from loopml.pipelines.loader import load_pipeline

    pipeline = load_pipeline(target)
    params = parse_params(pipeline, param or [])
    workspace = _workspace(create=True)
    view = _LiveSteps([n.name for n in pipeline.graph(**params).nodes])
    out = console()
    with Live(view.table(), console=out, refresh_per_second=8, transient=as_json) as live:
        view.live = live
        result = pipeline.run(
            executor=executor,
            cache=not no_cache,
            workspace=workspace,
            on_change=view.update,
            **params,
        )
        live.update(view.table())
    if id_file is not None:
        write_file(id_file, result.id + "\n")
    if not out.is_terminal and not as_json:
        out.line()  # a live view that was never live (piped output) ends without a newline
    if as_json:
        print_json(result)
    else:
        _print_summary(out, result)
    if result.status != "FINISHED":
        raise typer.Exit(1)


class _LiveSteps:
    def __init__(self, names: list[str]) -> None:
        self.rows: dict[str, dict[str, Any]] = {n: {"status": "PENDING"} for n in names}
        self.live: Any = None

    def update(self, state: Any) -> None:
        row = self.rows[state.node.name]
        row["status"] = "CACHED" if state.cached else state.status.value
        row["start"] = row.get("start") or time.monotonic()
        if state.status.value in ("FINISHED", "FAILED", "KILLED", "SKIPPED"):
            row["end"] = time.monotonic()
        row["attempts"] = state.attempts
        if self.live is not None:
            self.live.update(self.table())

    def table(self) -> Table:
        table = Table(box=None, header_style="bold")
        for column in ("step", "status", "duration", "attempts"):
            table.add_column(column, no_wrap=True)
        for name, row in self.rows.items():
            status = row["status"]
            started = row.get("start")
            elapsed = None if started is None else row.get("end", time.monotonic()) - started
            if status in ("PENDING", "SKIPPED"):
                elapsed = None
            attempts = str(row.get("attempts") or "")
            style = STEP_STYLE.get(status, "")
            table.add_row(name, f"[{style}]{status}[/]", format_duration(elapsed), attempts)
        return table


def _print_summary(out: Any, result: Any) -> None:
    style = STATUS_STYLE.get(result.status.value, "")
    cached = sum(s.cached for s in result.steps)
    out.print(
        f"pipeline {result.pipeline} [{style}]{result.status.value}[/]: run {result.id} "
        f"({len(result.steps)} steps, {cached} from cache)"
    )
    for step in result.steps:
        if step.error:
            out.print(f"[red]step {step.name} failed:[/]\n{step.error.rstrip()}")
            break


@app.command("ls")
def list_pipeline_runs(
    pipeline: str = typer.Option(None, "--pipeline", help="Only runs of this pipeline."),
    limit: int = typer.Option(50, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List pipeline runs, newest first."""
    from loopml.core.pipelines import TAG_PIPELINE
    from loopml.pipelines.records import list_pipeline_runs as find

    runs = find(_workspace(), pipeline, limit)
    if as_json:
        print_json({"pipeline_runs": runs})
        return
    out = console()
    if not runs:
        out.print("no pipeline runs")
        return
    table = Table(box=None, header_style="bold")
    for column in ("id", "pipeline", "status", "started", "duration"):
        table.add_column(column, no_wrap=True)
    for run in runs:
        style = STATUS_STYLE.get(run.status.value, "")
        table.add_row(
            run.id[:8],
            run.tags.get(TAG_PIPELINE, run.name),
            f"[{style}]{run.status.value}[/]",
            f"{run.start_time:%Y-%m-%d %H:%M:%S}",
            format_duration(run.duration_seconds),
        )
    out.print(table)


@app.command("show")
def show_pipeline_run(
    run_id: str = typer.Argument(..., help="Pipeline run id (or a unique prefix)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A pipeline run: its steps with status, cache hits, durations and errors."""
    from loopml.pipelines.records import read_pipeline_run

    workspace = _workspace()
    result = read_pipeline_run(workspace, resolve_run_id(workspace.store.runs, run_id))
    if as_json:
        print_json(result)
        return
    out = console()
    _print_summary(out, result)
    table = Table(box=None, header_style="bold")
    for column in ("step", "status", "cached", "duration", "run", "outputs"):
        table.add_column(column, no_wrap=True)
    for step in result.steps:
        style = STEP_STYLE.get(step.status.value, "")
        table.add_row(
            step.name,
            f"[{style}]{step.status.value}[/]",
            "yes" if step.cached else "",
            format_duration(step.duration),
            (step.run_id or "")[:8],
            ", ".join(f"{k}={v.digest[:8]}" for k, v in step.outputs.items()),
        )
    out.print(table)


def lineage_command(
    target: str = typer.Argument(
        ...,
        help="A prediction id, a run id (or prefix), an artifact digest, a dataset NAME@V or "
        "a model NAME/VERSION or NAME@ALIAS.",
    ),
    down: bool = typer.Option(False, "--down", help="What used it, instead of what made it."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print where a prediction, run, artifact, dataset or model version came from (or, with
    --down, what it fed): a prediction traces to its model version, training run, pipeline
    run, dataset versions and code commit."""
    from loopml.cli.prediction_lineage import find_prediction_lineage, lineage_tree
    from loopml.core.errors import InvalidArgumentError
    from loopml.pipelines.lineage import lineage

    workspace = _workspace()
    if _maybe_id(target):
        found = find_prediction_lineage(workspace, target)
        if found is not None and down:
            raise InvalidArgumentError(f"prediction {target!r} has nothing downstream")
        if found is not None:
            if as_json:
                print_json(found)
            else:
                console().print(lineage_tree(found))
            return
        target = _run_id(workspace.store.runs, target)
    root = lineage(target, direction="down" if down else "up", workspace=workspace)
    if as_json:
        print_json(root.to_dict())
        return
    tree = Tree(root.label)
    _grow(tree, root)
    console().print(tree)


def _maybe_id(target: str) -> bool:
    """Whether `target` could be a prediction id or a run id or prefix (at most 32 characters;
    digests are longer, dataset and model references have `@`, `/` or a `kind:` prefix)."""
    return len(target) <= 32 and not any(c in target for c in "@/:")


def _run_id(runs: Any, target: str) -> str:
    """The full id of the run `target` names, when no prediction has that id."""
    from loopml.core.errors import NotFoundError

    try:
        run_id = resolve_run_id(runs, target)
        runs.get(run_id)
    except NotFoundError:
        raise NotFoundError(f"no prediction or run has id {target!r}") from None
    return run_id


def _grow(branch: Tree, node: Any) -> None:
    for child in node.children:
        relation = f"[dim]{child.relation}:[/] " if child.relation else ""
        suffix = " [dim](shown above)[/]" if child.repeated else ""
        _grow(branch.add(f"{relation}{child.label}{suffix}"), child)
