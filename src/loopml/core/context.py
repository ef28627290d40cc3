"""The runs active in the current thread or task, innermost last.

Kept in the leaf layer so that every layer (data, registry, ...) can link what it records to
the run in progress without importing the tracking layer that starts runs.
"""

from __future__ import annotations

import contextvars
from typing import Any, Protocol


class HasId(Protocol):
    id: str


_ACTIVE: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar(
    "loopml_active_runs", default=()
)


def push_run(run: HasId) -> None:
    _ACTIVE.set((*_ACTIVE.get(), run))


def pop_run(run: HasId) -> None:
    _ACTIVE.set(tuple(r for r in _ACTIVE.get() if r is not run))


def current_run() -> Any | None:
    active = _ACTIVE.get()
    return active[-1] if active else None


def current_run_id() -> str | None:
    run = current_run()
    return run.id if run is not None else None
