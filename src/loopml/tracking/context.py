"""Which runs are active in the current thread or task (innermost last)."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopml.tracking.run import ActiveRun

_ACTIVE: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar(
    "loopml_active_runs", default=()
)


def push_run(run: ActiveRun) -> None:
    _ACTIVE.set((*_ACTIVE.get(), run))


def pop_run(run: ActiveRun) -> None:
    _ACTIVE.set(tuple(r for r in _ACTIVE.get() if r is not run))


def current_run() -> ActiveRun | None:
    """The innermost run started and not yet ended in this context, or None."""
    active = _ACTIVE.get()
    return active[-1] if active else None
