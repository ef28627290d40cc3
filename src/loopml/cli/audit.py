"""`loopml audit`: the audit trail (who changed what, when and why), newest first."""

from __future__ import annotations

import json
from typing import Any

import typer

from loopml.cli.output import console, print_json, time_option

SUMMARY_WIDTH = 80


def audit_command(
    action: str = typer.Option(None, "--action", "-a", help="Only actions starting with this "
                               "(e.g. alias. or deployment.promote)."),
    target: str = typer.Option(None, "--target", "-t", help="Only this target, exactly (e.g. "
                               "model:NAME, deployment:NAME, dataset:NAME)."),
    actor: str = typer.Option(None, "--actor", help="Only events by this user."),
    since: str = typer.Option(None, "--since", help="Only events at or after this ISO 8601 "
                              "time (UTC when no zone is given)."),
    limit: int = typer.Option(50, "--limit", "-n", help="At most this many events."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (every detail)."),
) -> None:  # fmt: skip
    """The audit log, newest first: alias moves, version changes, deployment changes, alerts
    and the controller's actions, with who made them and why."""
    from loopml.core.errors import InvalidArgumentError
    from loopml.workspace import Workspace

    if limit < 1:
        raise InvalidArgumentError(f"--limit must be at least 1, got {limit}")
    events = Workspace.current().store.audit.events(
        target=target, limit=limit, action_prefix=action or None, actor=actor,
        since=time_option("--since", since),
    )  # fmt: skip
    if as_json:
        print_json(events)
        return
    if not events:
        print("no audit events match")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("time", "actor", "action", "target", "details")
    for event in events:
        table.add_row(
            f"{event.time:%Y-%m-%d %H:%M:%S}",
            escape(event.actor),
            escape(event.action),
            escape(event.target),
            escape(summary(event.details)),
        )  # fmt: skip
    console().print(table)


def summary(details: Any, width: int = SUMMARY_WIDTH) -> str:
    """`key=value` pairs on one line, cut to `width` characters ('…' when cut); plain values
    (a reason, a version) before lists and mappings (a deployment's routes), which are long."""
    plain, nested = [], []
    for key, value in details.items():
        if isinstance(value, str):
            plain.append(f"{key}={value}")
        else:
            from loopml.core.entities import to_dict

            value = to_dict(value)
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            (nested if isinstance(value, list | dict) else plain).append(f"{key}={text}")
    parts = plain + nested
    line = " ".join(" ".join(parts).split())  # no line breaks from a multi-line reason
    return line if len(line) <= width else line[: width - 1] + "…"
