"""Alerts: rules from `loopml.yaml` checked against a monitoring report, then fired.

    crossed = evaluate(report, config.alerts)      # pure: which rules the report crosses
    fire(workspace, crossed, config.webhooks)      # audit event first, then the webhooks

`loopml.monitoring.episodes` decides which crossed rules notify (once per episode). Each
notification is written as an audit event (actor "monitoring", action "alert.<when>", target
"deployment:NAME"), the record of the alert (and of its episode), so it is written before any
webhook is tried and whatever the webhooks do. Deliveries are then recorded in one more event
("webhook.delivery", same target) with each webhook's outcome.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from loopml.core.alerting import (
    COLUMN_DRIFT,
    DATASET_DRIFT,
    NULL_SHARE_ABOVE,
    PERFORMANCE_BELOW,
    AlertRule,
    Webhook,
)
from loopml.core.monitoring import MonitorReport, QualityFinding
from loopml.monitoring.webhooks import Delivery, deliver
from loopml.workspace import Workspace

ACTOR = "monitoring"
DELIVERY_ACTION = "webhook.delivery"
DEPLOYMENT_PREFIX = "deployment:"
UNKNOWN_ALERT_COLUMN = "alert_unknown_column"  # a quality finding: a rule that cannot apply
NULL_KINDS = {"nulls": None, "all_null": 1.0, "missing_column": 1.0}  # finding -> share if none

log = logging.getLogger("loopml.monitoring.alerts")


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    rule: AlertRule
    deployment: str
    report: str  # the id of the report that crossed the rule
    message: str  # what crossed which threshold, in words
    value: float | None = None  # the measured value (drift share, statistic, metric, share)
    threshold: float | None = None  # the value it was held against
    model: str | None = None  # the model version serving the window, e.g. "iris/3"
    time: datetime | None = None  # the report's time: when the condition was seen
    episode: str | None = None  # the episode this notification belongs to
    notification: str = "opened"  # opened | renotify

    @property
    def target(self) -> str:
        return f"{DEPLOYMENT_PREFIX}{self.deployment}"

    def details(self) -> dict[str, Any]:
        """The audit event's details (and the core of the webhook payload)."""
        details: dict[str, Any] = {
            "rule": self.rule.name,
            "condition": self.rule.when,
            "deployment": self.deployment,
            "report": self.report,
            "model": self.model,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "notify": list(self.rule.notify),
        }
        if self.rule.column is not None:
            details["column"] = self.rule.column
        if self.rule.metric is not None:
            details["metric"] = self.rule.metric
        if self.episode is not None:
            details["episode"] = self.episode
            details["notification"] = self.notification
        if self.time is not None:
            details["time"] = self.time.isoformat()
        return details

    def payload(self) -> dict[str, Any]:
        """The JSON POSTed to webhooks; `text` makes it readable in Slack-style receivers."""
        return {
            "event": "loopml.alert",
            "action": self.rule.action,
            **self.details(),
            "text": f"[loopml] {self.rule.name} on {self.deployment}: {self.message}",
        }


# -- evaluation ----------------------------------------------------------------------------
def evaluate(report: MonitorReport, rules: Iterable[AlertRule]) -> list[Alert]:
    """The alerts `report` raises under `rules`; only deployment reports raise any."""
    if not report.target.startswith(DEPLOYMENT_PREFIX):
        return []
    deployment = report.target.removeprefix(DEPLOYMENT_PREFIX)
    alerts = []
    for rule in rules:
        if not rule.applies_to(deployment):
            continue
        crossed = _CHECKS[rule.when](report, rule)
        if crossed is not None:
            message, value, threshold = crossed
            alerts.append(Alert(rule, deployment, report.id, message, _finite(value),
                                _finite(threshold), report.model, report.time))  # fmt: skip
    return alerts


def measurable(report: MonitorReport, rule: AlertRule) -> bool:
    """Whether `report` can tell if `rule`'s condition holds (a column it covers, a metric
    with labels): a report that cannot neither opens nor closes an episode."""
    if rule.when == DATASET_DRIFT:
        return bool(report.columns)
    if rule.when == COLUMN_DRIFT:
        return rule.column in report.columns
    if rule.when == PERFORMANCE_BELOW:
        perf = report.performance
        return perf.available and perf.metrics.get(rule.metric) is not None
    return rule.column is not None and null_share(report, rule.column) is not None


Crossed = tuple[str, float | None, float | None] | None


def _dataset_drift(report: MonitorReport, rule: AlertRule) -> Crossed:
    if not report.dataset_drift:
        return None
    drifted = report.drifted_columns
    message = (
        f"dataset drift: {len(drifted)} of {len(report.columns)} columns drifted "
        f"(share {report.drift_share:.2f} >= {report.drift_threshold:.2f}): "
        + ", ".join(sorted(drifted))
    )
    return message, report.drift_share, report.drift_threshold


def _column_drift(report: MonitorReport, rule: AlertRule) -> Crossed:
    column = report.columns.get(rule.column)
    if column is None or not column.drifted:
        return None
    message = (
        f"column {column.name!r} drifted: {column.test} statistic {column.statistic:.4g} "
        f"crossed its threshold {column.threshold:g}"
    )
    return message, column.statistic, column.threshold


def _performance_below(report: MonitorReport, rule: AlertRule) -> Crossed:
    assert rule.metric is not None and rule.threshold is not None
    perf = report.performance
    value = perf.metrics.get(rule.metric) if perf.available else None
    if value is None or not value < rule.threshold:
        return None
    message = (
        f"{rule.metric} {value:.4g} is below the floor {rule.threshold:g} "
        f"({perf.rows} labeled predictions)"
    )
    return message, value, rule.threshold


def _null_share_above(report: MonitorReport, rule: AlertRule) -> Crossed:
    assert rule.column is not None and rule.threshold is not None
    share = null_share(report, rule.column)
    if share is None or not share > rule.threshold:
        return None
    message = (
        f"column {rule.column!r} is {share:.1%} missing, above the ceiling {rule.threshold:.1%}"
    )
    return message, share, rule.threshold


_CHECKS = {
    DATASET_DRIFT: _dataset_drift,
    COLUMN_DRIFT: _column_drift,
    PERFORMANCE_BELOW: _performance_below,
    NULL_SHARE_ABOVE: _null_share_above,
}


def unknown_columns(
    report: MonitorReport, rules: Iterable[AlertRule], known: Iterable[str]
) -> list[QualityFinding]:
    """A finding for each rule naming this deployment and a column it does not have (in the
    model's signature, the reference or the window): such a rule could never be evaluated,
    so the report says so instead of staying silent. Rules for every deployment ("*") are
    not reported: they may name a column that only some deployments have."""
    if not report.target.startswith(DEPLOYMENT_PREFIX):
        return []
    deployment = report.target.removeprefix(DEPLOYMENT_PREFIX)
    columns = {*known, *report.columns, *(f.column for f in report.quality if f.column)}
    findings = []
    for rule in rules:
        if rule.column is None or rule.deployment != deployment or rule.column in columns:
            continue
        listed = ", ".join(sorted(columns)[:12]) + (", ..." if len(columns) > 12 else "")
        message = (
            f"alert rule {rule.name!r} ({rule.when}) names column {rule.column!r}, which "
            f"{deployment} does not have, so it is never evaluated; its columns: {listed}"
        )
        log.warning("%s", message)
        findings.append(QualityFinding(rule.column, UNKNOWN_ALERT_COLUMN, message))
    return findings


def null_share(report: MonitorReport, column: str) -> float | None:
    """The share of `column`'s values in the window that are missing (null, or NaN in a numeric
    column); None when the report does not cover the column.

    A data-quality finding carries the share when it is well above the reference's; otherwise
    the column's drift test counted its present values, and the rest of the window's rows are
    the missing ones. A column missing from the data counts as entirely missing.
    """
    for finding in report.quality:
        if finding.column == column and finding.kind in NULL_KINDS:
            share = finding.share if finding.share is not None else NULL_KINDS[finding.kind]
            if share is not None:
                return float(share)
    drift = report.columns.get(column)
    if drift is None or report.current_rows <= 0:
        return None
    return max(0.0, 1.0 - drift.current_rows / report.current_rows)


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def with_alerts(report: MonitorReport, alerts: Sequence[Alert]) -> MonitorReport:
    """`report` naming the rules that fired on it."""
    return dataclasses.replace(report, alerts=tuple(a.rule.name for a in alerts))


# -- firing --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class Fired:
    alert: Alert
    recorded: bool  # the audit event (the trigger) was written
    deliveries: tuple[Delivery, ...] = ()


def fire(
    workspace: Workspace, alerts: Sequence[Alert], webhooks: Mapping[str, Webhook]
) -> list[Fired]:
    """Record each alert as an audit event, then POST it to the webhooks its rule names.

    Never raises: a store or webhook failure is logged and reported in the result (and, for
    webhooks, in the "webhook.delivery" event).
    """
    fired = []
    for alert in alerts:
        recorded = record(workspace, alert.rule.action, alert.target, alert.details())
        log.warning("alert %s on %s: %s", alert.rule.name, alert.deployment, alert.message)
        deliveries = deliver_all(workspace, webhooks, alert, alert.payload(), alert.rule.action)
        fired.append(Fired(alert, recorded, deliveries))
    return fired


def _deliver(
    webhooks: Mapping[str, Webhook], name: str, alert: Alert, payload: Mapping[str, Any]
) -> Delivery:
    webhook = webhooks.get(name)
    if webhook is None:  # parse_alerts refuses this; a hand-built rule might not
        log.error("alert %s: no webhook named %r", alert.rule.name, name)
        return Delivery(name, False, error=f"no webhook named {name!r}")
    return deliver(webhook, payload)


def deliver_all(
    workspace: Workspace,
    webhooks: Mapping[str, Webhook],
    alert: Alert,
    payload: Mapping[str, Any],
    action: str,
) -> tuple[Delivery, ...]:
    """POST `payload` to each webhook `alert`'s rule names; record the outcomes."""
    deliveries = tuple(_deliver(webhooks, name, alert, payload) for name in alert.rule.notify)
    if deliveries:
        record(workspace, DELIVERY_ACTION, alert.target, {
            "rule": alert.rule.name,
            "report": alert.report,
            "action": action,
            "deliveries": [d.to_json() for d in deliveries],
        })  # fmt: skip
    return deliveries


def record(workspace: Workspace, action: str, target: str, details: dict[str, Any]) -> bool:
    """Write an audit event as the monitoring actor; False (logged) when the store fails."""
    try:
        workspace.store.audit.record(ACTOR, action, target, details)
    except Exception:
        log.exception("could not record %s for %s in the audit log", action, target)
        return False
    return True
