"""Alert episodes: a rule notifies once when its condition starts holding on a deployment, not
again while it keeps holding (unless the rule's `renotify` interval has passed since the last
notification), and once more, "resolved", when a report shows that the condition has stopped
holding, which closes the episode.

The state lives in the audit log, so it survives restarts and is shared by every process on
the same store: an episode opens with an `alert.<when>` event (details: the rule, the episode,
notification "opened" and the report's time), may be renotified by more such events
("renotify"), and closes with an `alert.resolved` event naming the same rule and episode. The
open episode of a rule on a deployment is that of its newest `alert.<when>` event, unless an
`alert.resolved` event closed it. A report that cannot measure the condition (no labels yet, a
column it does not cover) changes nothing. Events written before episodes existed count as
episodes of their own. Time is the report's: a check at time t renotifies when t minus the
last notification's time is at least the interval.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from loopml.core.alerting import AlertRule, Webhook
from loopml.core.ids import new_id
from loopml.core.models import AuditEvent
from loopml.core.monitoring import MonitorReport
from loopml.monitoring.alerts import (
    DEPLOYMENT_PREFIX,
    Alert,
    deliver_all,
    fire,
    measurable,
    record,
)
from loopml.monitoring.webhooks import Delivery
from loopml.workspace import Workspace

RESOLVED_ACTION = "alert.resolved"
OPENED, RENOTIFY, RESOLVED = "opened", "renotify", "resolved"
HISTORY = 500  # the newest events read per action and deployment

log = logging.getLogger("loopml.monitoring.alerts")


@dataclasses.dataclass(frozen=True, slots=True)
class Episode:
    id: str
    opened: datetime  # the first notification's time
    notified: datetime  # the latest notification's time


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    rule: str
    change: str  # opened | renotify | resolved
    episode: str
    recorded: bool  # the audit event was written
    deliveries: tuple[Delivery, ...] = ()


def notify(
    workspace: Workspace,
    report: MonitorReport,
    rules: Iterable[AlertRule],
    crossed: Sequence[Alert],
    webhooks: Mapping[str, Webhook],
) -> list[Outcome]:
    """Open, renotify or resolve each rule's episode on `report`'s deployment; `crossed` are
    the alerts `report` raises (`alerts.evaluate`). Never raises."""
    if not report.target.startswith(DEPLOYMENT_PREFIX):
        return []
    deployment = report.target.removeprefix(DEPLOYMENT_PREFIX)
    holding = {alert.rule.name: alert for alert in crossed}
    book = _Book(workspace, report.target)
    outcomes = []
    for rule in rules:
        alert = holding.get(rule.name)
        if not rule.applies_to(deployment) or (alert is None and not measurable(report, rule)):
            continue
        episode = book.open_episode(rule)
        outcome = _step(workspace, rule, alert, episode, report, webhooks)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _step(
    workspace: Workspace,
    rule: AlertRule,
    alert: Alert | None,
    episode: Episode | None,
    report: MonitorReport,
    webhooks: Mapping[str, Webhook],
) -> Outcome | None:
    if alert is None:
        return None if episode is None else _resolve(workspace, rule, episode, report, webhooks)
    if episode is None:
        change, episode_id = OPENED, new_id()
    elif due(rule, episode, report.time):
        change, episode_id = RENOTIFY, episode.id
    else:
        return None  # still holding, already notified
    sent = dataclasses.replace(alert, episode=episode_id, notification=change)
    [fired] = fire(workspace, [sent], webhooks)
    return Outcome(rule.name, change, episode_id, fired.recorded, fired.deliveries)


def due(rule: AlertRule, episode: Episode, now: datetime) -> bool:
    """Whether `rule` notifies again about its open `episode` at `now`."""
    if rule.renotify is None:
        return False
    return now - episode.notified >= timedelta(seconds=rule.renotify)


def _resolve(
    workspace: Workspace,
    rule: AlertRule,
    episode: Episode,
    report: MonitorReport,
    webhooks: Mapping[str, Webhook],
) -> Outcome:
    deployment = report.target.removeprefix(DEPLOYMENT_PREFIX)
    message = f"{rule.when} no longer holds (since {episode.opened.isoformat()})"
    alert = Alert(rule, deployment, report.id, message, model=report.model, time=report.time)
    details = {**alert.details(), "episode": episode.id, "notification": RESOLVED,
               "opened": episode.opened.isoformat()}  # fmt: skip
    recorded = record(workspace, RESOLVED_ACTION, alert.target, details)
    log.warning("alert %s on %s resolved", rule.name, deployment)
    payload = {"event": "loopml.alert.resolved", "action": RESOLVED_ACTION, **details,
               "text": f"[loopml] resolved: {rule.name} on {deployment}: {message}"}  # fmt: skip
    deliveries = deliver_all(workspace, webhooks, alert, payload, RESOLVED_ACTION)
    return Outcome(rule.name, RESOLVED, episode.id, recorded, deliveries)


class _Book:
    """The audit events of one target, read once per action."""

    def __init__(self, workspace: Workspace, target: str) -> None:
        self._workspace, self._target = workspace, target
        self._events: dict[str, list[AuditEvent]] = {}

    def events(self, action: str) -> list[AuditEvent]:
        """Newest first; none when the store cannot be read (then alerts notify again)."""
        if action not in self._events:
            try:
                found = self._workspace.store.audit.events(self._target, action, HISTORY)
            except Exception:
                log.exception("cannot read the alert history of %s", self._target)
                found = []
            self._events[action] = found
        return self._events[action]

    def open_episode(self, rule: AlertRule) -> Episode | None:
        mine = [e for e in self.events(rule.action) if e.details.get("rule") == rule.name]
        if not mine:
            return None
        episode = episode_of(mine[0])
        closed = any(e.details.get("rule") == rule.name and episode_of(e) == episode
                     for e in self.events(RESOLVED_ACTION))  # fmt: skip
        if closed:
            return None
        times = [_time(e) for e in mine if episode_of(e) == episode]
        return Episode(episode, min(times), max(times))


def episode_of(event: AuditEvent) -> str:
    """The episode an alert event belongs to (an event from before episodes is its own)."""
    return str(event.details.get("episode") or f"event-{event.id}")


def _time(event: AuditEvent) -> datetime:
    """When the event's report saw the condition (the event's own time if it does not say)."""
    text: Any = event.details.get("time")
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    return event.time
