"""Printing for the CLI: Rich tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import math
from typing import Any

from rich.console import Console

from loopml.core.entities import to_dict


def console() -> Console:
    """A console as wide as the terminal, or wide enough for tables when output is piped."""
    import sys

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def print_json(value: Any) -> None:
    print(json.dumps(to_dict(value), indent=2, ensure_ascii=False))


def format_value(value: Any, digits: int = 6) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.{digits}g}"
    if value is None:
        return "-"
    return str(value)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


STATUS_STYLE = {"RUNNING": "cyan", "FINISHED": "green", "FAILED": "red", "KILLED": "yellow"}
