"""The `loopml` command. Errors from loopml print one line and exit 1, without a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from loopml.cli import data, deployments, loop, models, monitor, pipelines, runs, server

app = typer.Typer(
    help="loopml: versioned data, tracking, pipelines, registry, serving, monitoring and "
    "continuous training in one tool.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(runs.app, name="runs")
app.add_typer(data.app, name="data")
app.add_typer(pipelines.app, name="pipeline")
app.add_typer(models.app, name="models")
app.command("lineage")(pipelines.lineage_command)
app.add_typer(deployments.app, name="deployments")
app.command("serve")(deployments.serve_command)
app.command("predict")(deployments.predict_command)
app.command("monitor")(monitor.monitor_command)
app.add_typer(loop.app, name="loop")
app.add_typer(server.app, name="server")


@app.command("init")
def init(path: Path = typer.Argument(Path("."), help="Folder to create the workspace in.")) -> None:
    """Create a workspace (.loopml/ with a SQLite store and an artifact folder)."""
    from loopml.workspace import Workspace

    workspace = Workspace.init(path)
    typer.echo(f"initialized loopml workspace in {workspace.root}/.loopml")


@app.command("demo")
def demo(
    workspace: Path = typer.Option(
        None, "--workspace", "-w", help="Folder for the demo workspace."
    ),
) -> None:
    """The whole loop on generated data: train, serve, drift, retrain, gate, canary, promote,
    reject and roll back; prints the timeline and leaves the workspace to explore."""
    from loopml.demo.run import run_demo

    run_demo(workspace)


@app.command("ui")
def ui(
    port: int = typer.Option(8765, "--port", "-p", help="Port on 127.0.0.1 (0: any free one)."),
) -> None:
    """The web UI for the current workspace on 127.0.0.1 (no authentication, so loopback
    only); prints its address. For a team, `loopml server` serves the same UI with tokens."""
    from loopml.server.ui.local import serve_ui
    from loopml.workspace import Workspace

    serve_ui(Workspace.current(), port=port)


def main() -> None:
    from loopml.core.errors import LoopmlError
    from loopml.core.extras import missing_extra

    try:
        app()
    except LoopmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except ImportError as exc:  # an optional dependency: one line naming the extra
        error = missing_extra(exc)
        if error is None:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
