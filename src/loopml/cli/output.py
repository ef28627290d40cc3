"""Printing for the CLI: Rich tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def time_option(option: str, text: str | None) -> Any:
    """An ISO 8601 time given to `option` (UTC unless it says otherwise), or None."""
    if text is None:
        return None
    from loopml.core.errors import InvalidArgumentError
    from loopml.core.ids import parse_time

    try:
        return parse_time(text)
    except ValueError:
        raise InvalidArgumentError(f"{option}: {text!r} is not an ISO 8601 time") from None


def write_file(path: Path, text: str) -> None:
    """Write `text` to `path` (its folder made if missing) atomically: a reader sees the old
    file or the whole new one."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def console() -> Console:
    """A console as wide as the terminal, or wide enough for tables when output is piped."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def print_json(value: Any) -> None:
    from loopml.core.entities import to_dict

    print(json.dumps(to_dict(value), indent=2, ensure_ascii=False))


_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34",
         "cyan": "36"}  # fmt: skip


def print_rows(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    widths: Sequence[int | None] = (),
    max_width: int = 24,
    styles: Sequence[Sequence[str]] = (),
) -> None:
    """A borderless table laid out as Rich's `box=None` tables are (a space of padding on each
    side of a cell, the header in bold), for the commands run often (`runs ls`): Rich takes
    longer to import and render it than the query behind it takes to run. `widths` fixes a
    column's width (None: as wide as its cells, up to `max_width`; longer cells end in '…');
    `styles` gives a colour per cell (cyan, green, red, yellow, dim), used on a terminal."""
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    sizes = []
    for i, header in enumerate(headers):
        fixed = widths[i] if i < len(widths) else None
        natural = max([len(header), *(len(row[i]) for row in rows)])
        sizes.append(fixed or min(natural, max_width))

    def cell(text: str, width: int, style: str = "") -> str:
        if len(text) > width:
            text = text[: max(0, width - 1)] + "…"
        padded = text.ljust(width)
        code = _ANSI.get(style) if color else None
        return f"\x1b[{code}m{padded}\x1b[0m" if code else padded

    line = [cell(h, w, "bold") for h, w in zip(headers, sizes, strict=True)]
    out = [" " + "  ".join(line) + " "]
    for r, row in enumerate(rows):
        style = styles[r] if r < len(styles) else ()
        cells = [cell(text, w, style[i] if i < len(style) else "")
                 for i, (text, w) in enumerate(zip(row, sizes, strict=True))]  # fmt: skip
        out.append(" " + "  ".join(cells) + " ")
    print("\n".join(out))


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
