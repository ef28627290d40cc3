"""The loop's timeline as a Rich table: what `loopml loop history` and the demo print."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from loopml.core.loops import LoopEvent

PHASE_STYLE = {
    "idle": "dim", "training": "cyan", "gating": "cyan", "canary": "yellow",
    "promoted": "green", "rolled_back": "red", "rejected": "magenta", "failed": "bold red",
}  # fmt: skip


def styled_phase(phase: str) -> str:
    return f"[{PHASE_STYLE.get(phase, '')}]{phase}[/]"


def timeline_table(events: Sequence[LoopEvent], title: str | None = None) -> Table:
    table = Table("time (UTC)", "deployment", "cycle", "phase", "what happened", title=title)
    for event in events:
        table.add_row(event.time.strftime("%H:%M:%S"), event.deployment, str(event.cycle),
                      styled_phase(event.phase.value), escape(event.message))  # fmt: skip
    return table
