"""The `loopml` command. Errors from loopml print one line and exit 1, without a traceback.

Start-up is kept short (`loopml runs ls` is typed often): the subcommand modules are imported
only when their command is invoked (or when `--help` lists them), and each imports its heavy
libraries inside the functions that need them.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from loopml.cli import coercion

coercion.install()  # plain option values without Pydantic: about 0.1 s less at each start

# The commands defined in other modules: name -> (module, attribute). A Typer attribute is a
# command group, a function a single command. Listed in this order by `loopml --help`.
LAZY_COMMANDS = {
    "runs": ("loopml.cli.runs", "app"),
    "data": ("loopml.cli.data", "app"),
    "pipeline": ("loopml.cli.pipelines", "app"),
    "lineage": ("loopml.cli.pipelines", "lineage_command"),
    "reproduce": ("loopml.cli.reproduce", "reproduce_command"),
    "models": ("loopml.cli.models", "app"),
    "deployments": ("loopml.cli.deployments", "app"),
    "serve": ("loopml.cli.deployments", "serve_command"),
    "predict": ("loopml.cli.deployments", "predict_command"),
    "build": ("loopml.cli.build", "build_command"),
    "k8s": ("loopml.cli.build", "k8s_command"),
    "monitor": ("loopml.cli.monitor", "monitor_command"),
    "loop": ("loopml.cli.loop", "app"),
    "ci": ("loopml.cli.ci", "app"),
    "audit": ("loopml.cli.audit", "audit_command"),
    "gc": ("loopml.cli.gc", "gc_command"),
    "predictions": ("loopml.cli.gc", "predictions_app"),
    "server": ("loopml.cli.server", "app"),
}
ORDER = ("init", *LAZY_COMMANDS, "demo", "ui")


class LoopmlGroup(TyperGroup):
    """The top-level group: imports a subcommand's module when the subcommand is asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = [*super().list_commands(ctx), *LAZY_COMMANDS]
        known = [name for name in ORDER if name in names]
        return known + [name for name in dict.fromkeys(names) if name not in known]

    def get_command(self, ctx: Any, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is None and name in LAZY_COMMANDS:
            command = _load(name, *LAZY_COMMANDS[name])
            self.commands[name] = command
        return command


def _load(name: str, module: str, attribute: str) -> Any:
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(rich_markup_mode=MARKUP, add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return tidy(command)


# -- help that reads well -------------------------------------------------------------------
MARKUP = "rich"
_METAVARS = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "PATH"}


def tidy(command: Any) -> Any:
    """Help text as written: a docstring's line breaks inside a paragraph are not kept (the
    terminal wraps), and options show FLAG-less metavars (`TEXT`, `PATH`) instead of a type
    annotation (`<bool>`, `<list[str]>`). Applied to `command` and all its subcommands."""
    if getattr(command, "_loopml_tidy", False):
        return command
    command._loopml_tidy = True
    for attribute in ("help", "short_help"):
        text = getattr(command, attribute, None)
        if text:
            setattr(command, attribute, _reflow(text))
    for param in command.params:
        if getattr(param, "help", None):
            param.help = _reflow(param.help)
        elif "--json" in getattr(param, "opts", ()):
            param.help = "Print JSON."
        _set_metavar(param)
    make_help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:  # made per context: tidied as it is made
        option = make_help_option(ctx)
        if option is not None:
            _set_metavar(option)
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)
    return command


def _reflow(text: str) -> str:
    import inspect

    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(text))
    text = "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)
    # NAME[@VERSION] is text, not Rich markup to swallow (rich.markup.escape, without
    # importing Rich for commands that print no help).
    return _MARKUP_TAG.sub(lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", text)


_MARKUP_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def _set_metavar(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)  # Typer >= 0.2x: annotation-based
    if descriptor is None:
        return  # older Typer: Click's own TEXT/INTEGER metavars already
    if param.param_type_name == "argument":  # its name is shown: the type only when not text
        label = _type_label(descriptor.annotation)
        if param.metavar is None:
            param.metavar = param.name.upper()  # `{TARGET}`, as Click names arguments
        if label in ("TEXT", param.metavar):
            label = None
        param.display_type_rich = lambda ctx: label
        return
    if param.metavar is not None:
        return
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        param.metavar = ""  # a flag takes no value: no `<bool>` beside it
        return
    label = _type_label(descriptor.annotation)
    if label is not None:
        param.metavar = label


def _type_label(annotation: Any) -> str | None:
    args = getattr(annotation, "__args__", ())
    if getattr(annotation, "__origin__", None) is list and len(args) == 1:
        annotation = args[0]
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "PATH"
    return _METAVARS.get(annotation)


# -- the command ----------------------------------------------------------------------------
app = typer.Typer(
    cls=LoopmlGroup,
    help="loopml: versioned data, tracking, pipelines, registry, serving, monitoring and "
    "continuous training in one tool.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=MARKUP,
)


def _print_version(value: bool) -> None:
    if value:
        from loopml import __version__

        print(f"loopml {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", "-V", is_eager=True, callback=_print_version,
        help="Print loopml's version and exit.",
    ),
) -> None:  # fmt: skip
    """loopml: versioned data, tracking, pipelines, registry, serving, monitoring and
    continuous training in one tool."""


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


def command() -> Any:
    """The Click command behind `loopml` (what `main` runs), help tidied."""
    return tidy(typer.main.get_command(app))


def main() -> None:
    from loopml.core.errors import LoopmlError
    from loopml.core.extras import missing_extra

    try:
        command()(prog_name="loopml")
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
    finally:
        # The command is done and the process about to end: spare the interpreter's last
        # garbage collections over every object the imports made (tens of ms at each exit).
        import gc

        gc.freeze()
