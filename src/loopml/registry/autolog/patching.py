"""Patching library functions so that a fit logs to a run, and undoing it.

The patch table is process-wide by nature (it replaces attributes of classes and modules), so
it lives here with one lock. A patched fit:

- logs into the active run, or starts a run for the fit and ends it after (FAILED if the fit
  raised, with the user's exception passed on untouched);
- never logs a fit nested in another autologged fit: a Pipeline's steps, a search's
  candidates and refit, XGBoost's own `train` under `XGBClassifier.fit`. The rule is
  process-wide (a counter, not a thread-local), so the threads a joblib threading backend
  starts inside a fit count as nested too; fits running at the same time in threads of your
  own are then logged only for the first of them;
- turns any logging error into a warning: the user's fit result is returned as it was.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from loopml.core import context

log = logging.getLogger("loopml.autolog")
MARK = "__loopml_autolog__"

# (patch, args, kwargs) -> (args, kwargs, state); state goes to `after`.
Prepare = Callable[[tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any], Any]]
# (run, args, kwargs, result, state) -> None
After = Callable[[Any, tuple[Any, ...], dict[str, Any], Any, Any], None]

_lock = threading.RLock()
_originals: dict[tuple[int, str], tuple[Any, str, Any]] = {}  # (id(owner), attr) -> original
_busy = 0  # autologged fits in progress in this process


def patch(owner: Any, attr: str, after: After, prepare: Prepare | None = None) -> None:
    """Replace `owner.attr` (once: patching again changes nothing)."""
    with _lock:
        current = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr)
        if current is None or getattr(current, MARK, False):
            return
        _originals[(id(owner), attr)] = (owner, attr, current)
        setattr(owner, attr, _wrapped(current, after, prepare))


def unpatch_all() -> int:
    """Put every patched attribute back; how many there were."""
    with _lock:
        count = len(_originals)
        for owner, attr, original in _originals.values():
            setattr(owner, attr, original)
        _originals.clear()
        return count


def patched_count() -> int:
    with _lock:
        return len(_originals)


def _claim() -> bool:
    global _busy
    with _lock:
        _busy += 1
        return _busy == 1


def _release() -> None:
    global _busy
    with _lock:
        _busy -= 1


def _wrapped(original: Any, after: After, prepare: Prepare | None) -> Any:
    @functools.wraps(original)
    def autologged(*args: Any, **kwargs: Any) -> Any:
        try:
            outermost = _claim()
            if not outermost:
                return original(*args, **kwargs)
            return _logged_call(original, after, prepare, args, kwargs)
        finally:
            _release()

    setattr(autologged, MARK, True)
    return autologged


def _logged_call(
    original: Any, after: After, prepare: Prepare | None, args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:  # fmt: skip
    state = None
    if prepare is not None:
        prepared = quietly(prepare, args, kwargs)
        if prepared is not None:
            args, kwargs, state = prepared
    opened = quietly(_run_for, original, args)
    run, started = opened if opened is not None else (None, False)
    try:
        result = original(*args, **kwargs)
    except BaseException as exc:
        if started:
            quietly(_end, run, exc)
        raise
    if run is not None:
        quietly(after, run, args, kwargs, result, state)
        if started:
            quietly(_end, run, None)
    return result


def _run_for(original: Any, args: tuple[Any, ...]) -> tuple[Any, bool]:
    active = context.current_run()
    if active is not None:
        return active, False
    from loopml.tracking.api import start_run

    if args and hasattr(args[0], "get_params"):  # an estimator: its class names the run
        name = type(args[0]).__name__
    else:  # xgboost.train, lightgbm.train
        name = f"{original.__module__.split('.')[0]}-{original.__name__}"
    return start_run(name=name, tags={"loopml.autolog": "true"}), True


def _end(run: Any, exc: BaseException | None) -> None:
    from loopml.tracking.run import ending_for

    if exc is None:
        run.end()
    else:
        run.end(*ending_for(type(exc), exc, exc.__traceback__))


def quietly(action: Callable[..., Any], *args: Any) -> Any:
    """Run a logging step; a failure is a warning, never the user's error."""
    try:
        return action(*args)
    except Exception as exc:
        name = getattr(action, "__name__", "a step")
        log.warning("loopml autolog could not %s: %s: %s", name.strip("_"), type(exc).__name__,
                    exc)  # fmt: skip
        return None
