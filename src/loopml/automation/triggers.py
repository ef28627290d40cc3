"""Whether a deployment's loop should retrain now, and why (in words, with the numbers).

Each trigger kind keeps its bookkeeping in the loop state's `cursors` (the last schedule slot
seen, the last dataset version seen), so a restart neither misses nor repeats a firing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.loops import LoopState, Phase
from loopml.core.monitoring import MonitorReport, Performance
from loopml.core.policies import (
    DRIFT,
    ESTIMATED,
    LOWER_IS_BETTER,
    MANUAL,
    NEW_DATA,
    PERFORMANCE,
    SCHEDULE,
    Policy,
    Trigger,
)
from loopml.core.serving import RouteMode
from loopml.workspace import Workspace

log = logging.getLogger("loopml.automation")
CALIBRATION_ROWS = 5000  # labelled predictions an estimate is recalibrated on
STREAK = "loop:unsuccessful"  # cursor: cycles in a row that changed nothing, before this one
UNSUCCESSFUL = frozenset({Phase.REJECTED, Phase.ROLLED_BACK, Phase.UNCHANGED})
MAX_BACKOFF = 8


@dataclasses.dataclass(frozen=True)
class Fired:
    trigger: Trigger
    reason: str
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    fired: Fired | None
    cursors: dict[str, Any]  # updated bookkeeping, saved whether or not anything fired


def evaluate(
    ws: Workspace, policy: Policy, state: LoopState, now: datetime, *, manual: bool = False
) -> Evaluation:
    """The first trigger that fires, outside the cooldown (a manual request ignores it)."""
    cursors = dict(state.cursors)
    if manual:
        return Evaluation(Fired(Trigger(MANUAL), "manual request"), cursors)
    if _cooling(policy, state, now):
        return Evaluation(None, cursors)
    if state.phase is Phase.FAILED and state.trigger:  # retry what failed, after the cooldown
        retry = Fired(Trigger(MANUAL), f"retry after failure ({state.trigger})")
        return Evaluation(retry, cursors)
    for trigger in policy.triggers:
        fired = _check(ws, policy, trigger, state, now, cursors)
        if fired is not None:
            return Evaluation(fired, cursors)
    return Evaluation(None, cursors)


def _cooling(policy: Policy, state: LoopState, now: datetime) -> bool:
    """Within the cooldown of the last cycle, doubled for each cycle in a row that changed
    nothing (rejected, rolled back, unchanged), up to MAX_BACKOFF times: a drift that a
    retrain cannot fix must not retrain every cooldown."""
    if state.cycle_time is None:
        return False
    backoff = min(2 ** unsuccessful_streak(state), MAX_BACKOFF)
    return (now - state.cycle_time).total_seconds() < policy.cooldown * backoff


def unsuccessful_streak(state: LoopState) -> int:
    """Cycles in a row, up to this state's, that ended without a new champion."""
    before = int(state.cursors.get(STREAK, 0))
    if state.phase in UNSUCCESSFUL:
        return before + 1
    return 0 if state.phase is Phase.PROMOTED else before


def streak_at_start(policy: Policy, state: LoopState, now: datetime) -> int:
    """The streak a new cycle carries: the one so far, unless the loop has been quiet for
    twice its backed-off cooldown since the last cycle began (old failures are not "in a row":
    a false alarm hours ago must not slow the answer to a real change)."""
    streak = unsuccessful_streak(state)
    if state.cycle_time is None:
        return streak
    quiet = (now - state.cycle_time).total_seconds()
    return 0 if quiet > 2 * policy.cooldown * min(2**streak, MAX_BACKOFF) else streak


def _check(
    ws: Workspace,
    policy: Policy,
    trigger: Trigger,
    state: LoopState,
    now: datetime,
    cursors: dict[str, Any],
) -> Fired | None:
    if trigger.kind == SCHEDULE:
        return _schedule(trigger, now, cursors)
    if trigger.kind == NEW_DATA:
        return _new_data(ws, trigger, cursors)
    if trigger.kind == DRIFT:
        report = _drift_report(ws, policy, state, trigger)
        return None if report is None else _drift(trigger, report)
    if trigger.kind == PERFORMANCE:
        return _decay(trigger, _labelled_performance(ws, policy, state, trigger))
    if trigger.kind == ESTIMATED:
        return _decay(trigger, _estimated_performance(ws, policy, state, trigger))
    return None  # manual: only on request


def schedule_key(trigger: Trigger) -> str:
    return f"schedule:{trigger.cron}"


def next_run(trigger: Trigger, cursors: Mapping[str, Any], now: datetime) -> datetime:
    from croniter import croniter

    last = cursors.get(schedule_key(trigger))
    start = datetime.fromisoformat(last) if last else now
    return croniter(trigger.cron, start).get_next(datetime)  # type: ignore[no-any-return]


def _schedule(trigger: Trigger, now: datetime, cursors: dict[str, Any]) -> Fired | None:
    key = schedule_key(trigger)
    if key not in cursors:  # first sight: start counting from now, do not fire at once
        cursors[key] = now.isoformat()
        return None
    due = next_run(trigger, cursors, now)
    if due > now:
        return None
    cursors[key] = now.isoformat()  # slots missed while down are folded into this one
    return Fired(trigger, f"schedule {trigger.cron!r} was due at {due.isoformat()}")


def _new_data(ws: Workspace, trigger: Trigger, cursors: dict[str, Any]) -> Fired | None:
    key = f"new_data:{trigger.dataset}"
    try:
        latest = ws.store.datasets.get_version(trigger.dataset, "latest")  # type: ignore[arg-type]
    except NotFoundError:  # watched before it exists: its first version is new data
        cursors.setdefault(key, 0)
        return None
    seen = cursors.get(key)
    cursors[key] = latest.version
    if seen is None or latest.version <= seen:
        return None
    reason = f"new data: {trigger.dataset} v{latest.version} (was v{seen})"
    return Fired(trigger, reason, {"dataset": trigger.dataset, "version": latest.version,
                                   "digest": latest.digest})  # fmt: skip


def _drift_report(
    ws: Workspace, policy: Policy, state: LoopState, trigger: Trigger
) -> MonitorReport | None:
    """A drift check of this trigger's own window: the newest `window` predictions of the
    serving version made since the last cycle began, once `min_predictions` of them exist."""
    from loopml.monitoring import api as monitoring

    try:
        route = ws.store.deployments.get(policy.deployment).primary
        seen = ws.store.predictions.query(
            deployment=policy.deployment, model=route.model, version=route.version,
            since=state.cycle_time, limit=trigger.min_predictions, newest=True,
        )  # fmt: skip
        if len(seen) < trigger.min_predictions:
            return None
        # Saved (the verdict is on record), but alert rules are `loopml monitor`'s business:
        # a pass every few seconds must not page anyone each time.
        return monitoring.check(policy.deployment, policy.reference, window=trigger.window,
                                since=state.cycle_time, model_version=route.version,
                                threshold=trigger.threshold, alpha=trigger.alpha,
                                alerts=False, workspace=ws)  # fmt: skip
    except (NotFoundError, InvalidArgumentError) as exc:
        log.warning("loop %s: no drift verdict: %s", policy.deployment, exc)
        return None


def _labelled_performance(
    ws: Workspace, policy: Policy, state: LoopState, trigger: Trigger
) -> Performance | None:
    """The metric on the newest `window` predictions of the serving version whose labels
    have arrived (labels come late: the newest predictions rarely have one yet), judged only
    once the window is full."""
    from loopml.monitoring.performance import performance

    try:
        route = ws.store.deployments.get(policy.deployment).primary
    except NotFoundError as exc:
        log.warning("loop %s: no performance verdict: %s", policy.deployment, exc)
        return None
    labelled = ws.store.predictions.query(
        deployment=policy.deployment, model=route.model, version=route.version,
        since=state.cycle_time, labeled=True, limit=trigger.window, newest=True,
    )  # fmt: skip
    served = [p for p in labelled if p.route is not RouteMode.SHADOW]
    if len(served) < trigger.window:
        return None
    return performance([p.output for p in served], [p.label for p in served],
                       probabilities=[p.probabilities for p in served])  # fmt: skip


def _estimated_performance(
    ws: Workspace, policy: Policy, state: LoopState, trigger: Trigger
) -> Performance | None:
    """The metric estimated from the served probabilities of the newest `window` predictions
    (labels or not), recalibrated on the version's labelled predictions when there are
    enough: a decay seen before its labels arrive."""
    from loopml.monitoring.estimation import estimate

    try:
        route = ws.store.deployments.get(policy.deployment).primary
    except NotFoundError as exc:
        log.warning("loop %s: no estimated performance: %s", policy.deployment, exc)
        return None
    selection = {"deployment": policy.deployment, "model": route.model,
                 "version": route.version, "newest": True}  # fmt: skip
    recent = ws.store.predictions.query(since=state.cycle_time, limit=trigger.window, **selection)
    served = [p for p in recent if p.route is not RouteMode.SHADOW]
    if len(served) < trigger.window:
        return None
    labelled = ws.store.predictions.query(labeled=True, limit=CALIBRATION_ROWS, **selection)
    calibration = ([p.probabilities for p in labelled], [p.label for p in labelled])
    guess = estimate([p.probabilities for p in served], calibration)
    return guess if guess.available else None


def _drift(trigger: Trigger, report: MonitorReport) -> Fired | None:
    details = {"report": report.id, "drift_share": round(report.drift_share, 4)}
    if not trigger.columns:
        if not report.dataset_drift:
            return None
        drifted = sorted(name for name, c in report.columns.items() if c.drifted)
        reason = (f"dataset drift: {len(drifted)} of {len(report.columns)} columns drifted "
                  f"({', '.join(drifted[:5])}), share {report.drift_share:.2f}")  # fmt: skip
        return Fired(trigger, reason, {**details, "columns": drifted})
    drifted = [c for c in trigger.columns if c in report.columns and report.columns[c].drifted]
    if not drifted:
        return None
    parts = [f"{c} ({report.columns[c].test} {report.columns[c].statistic:.3g})" for c in drifted]
    return Fired(trigger, f"drift in {', '.join(parts)}", {**details, "columns": drifted})


def _decay(trigger: Trigger, performance: Performance | None) -> Fired | None:
    if performance is None or not performance.available:
        return None
    value = performance.metrics.get(trigger.metric)
    if value is None:
        return None
    low = trigger.below is not None and value < trigger.below
    high = trigger.above is not None and value > trigger.above
    if not (low or high):
        return None
    bound = trigger.below if low else trigger.above
    word = "below" if low else "above"
    if trigger.metric in LOWER_IS_BETTER and low:
        return None  # an error metric going down is good news
    if trigger.kind == ESTIMATED:
        reason = (f"estimated {trigger.metric} {value:.4g} {word} {bound:g} on the newest "
                  f"{performance.rows} predictions (their probabilities, no labels)")  # fmt: skip
        return Fired(trigger, reason, {"metric": trigger.metric, "estimated": value,
                                       "predictions": performance.rows})  # fmt: skip
    reason = (f"{trigger.metric} {value:.4g} {word} {bound:g} on the newest "
              f"{performance.rows} labelled predictions")  # fmt: skip
    return Fired(trigger, reason, {"metric": trigger.metric, "value": value,
                                   "labels": performance.rows})  # fmt: skip
