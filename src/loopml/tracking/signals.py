"""Process-level endings of runs: SIGTERM marks them KILLED, interpreter exit ends the rest.

Signals and exit hooks belong to the process, so this module keeps the one process-wide set of
active runs they need. SIGTERM raises SystemExit in the main thread, so `with start_run()`
blocks unwind normally and record KILLED; runs started without `with` are ended at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import sys
import threading
import traceback
import weakref
from types import FrameType, TracebackType
from typing import Any, Protocol

from loopml.core.entities import RunStatus

SIGTERM_EXIT_CODE = 128 + signal.SIGTERM
INTERRUPTED = "interrupted (KeyboardInterrupt)"


class _Endable(Protocol):
    def end(self, status: RunStatus = ..., error: str | None = ...) -> None: ...


class _ProcessState:
    def __init__(self) -> None:
        self.active: weakref.WeakSet[Any] = weakref.WeakSet()
        self.installed = False
        self.terminating = False
        self.uncaught: str | None = None
        self.interrupted = False
        self.lock = threading.Lock()


_STATE = _ProcessState()


def is_terminating() -> bool:
    return _STATE.terminating


def watch(run: _Endable) -> None:
    with _STATE.lock:
        _STATE.active.add(run)
        if not _STATE.installed:
            _install()
            _STATE.installed = True


def unwatch(run: _Endable) -> None:
    _STATE.active.discard(run)


def _install() -> None:
    atexit.register(_end_all_at_exit)
    previous_hook = sys.excepthook

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            _STATE.interrupted = True
        else:
            _STATE.uncaught = "".join(traceback.format_exception(kind, exc, tb))[-10_000:]
        previous_hook(kind, exc, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            _STATE.terminating = True
            if callable(previous):
                previous(signum, frame)
            raise SystemExit(SIGTERM_EXIT_CODE)

        signal.signal(signal.SIGTERM, on_sigterm)


def _end_all_at_exit() -> None:
    if _STATE.terminating:
        status, error = RunStatus.KILLED, "terminated by SIGTERM"
    elif _STATE.interrupted:
        status, error = RunStatus.KILLED, INTERRUPTED
    elif _STATE.uncaught:
        status, error = RunStatus.FAILED, _STATE.uncaught
    else:
        status, error = RunStatus.FINISHED, None
    for run in list(_STATE.active):
        try:
            run.end(status, error)
        except Exception as exc:  # the interpreter is exiting; report and go on
            print(f"loopml: could not end run at exit: {exc}", file=sys.stderr)
    if _STATE.interrupted and not _STATE.terminating:
        _keep_interrupted_exit()


def _keep_interrupted_exit() -> None:
    """CPython ends a process whose main module raised KeyboardInterrupt by SIGINT (130 in
    a shell) only if no code compiled from a string has run since: exec or eval of a string
    clears that mark, and ending runs at exit can (SQLAlchemy generates code with exec on a
    statement's first use). Code from a string that raises KeyboardInterrupt sets the mark
    again, so the process still ends as interrupted."""
    with contextlib.suppress(KeyboardInterrupt):
        exec("raise KeyboardInterrupt")  # a constant: it only sets the mark
