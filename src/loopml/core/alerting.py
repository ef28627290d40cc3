"""Alert rules and webhook targets: the `alerts:` and `webhooks:` sections of `loopml.yaml`.

    webhooks:
      ops: {url: "https://hooks.example.com/x", headers: {X-Token: "..."}, timeout: 5}
      local: {url: "http://127.0.0.1:9999/hook", allow_private: true}     # or ["10.1.0.0/16"]
    alerts:
      - name: iris-drift
        deployment: iris-api        # or "*" for every deployment
        when: dataset_drift         # dataset_drift | column_drift | performance_below
                                    #   | null_share_above
        column: petal_width         # column_drift, null_share_above
        metric: accuracy            # performance_below
        threshold: 0.9              # performance_below, null_share_above
        notify: [ops]               # webhook names; none: only the audit event
        renotify: 6h                # while it keeps holding, notify again this often
                                    #   (default: never; once per episode)

Webhooks never reach loopback, link-local, private or other non-public addresses unless
`allow_private` says so: `true` for any of them, or a list of networks (`127.0.0.1/32`) to allow
only those.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loopml.core.config_fields import Field
from loopml.core.entities import FrozenDict
from loopml.core.errors import InvalidArgumentError
from loopml.core.names import validate_name

DATASET_DRIFT = "dataset_drift"
COLUMN_DRIFT = "column_drift"
PERFORMANCE_BELOW = "performance_below"
NULL_SHARE_ABOVE = "null_share_above"
CONDITIONS = (DATASET_DRIFT, COLUMN_DRIFT, PERFORMANCE_BELOW, NULL_SHARE_ABOVE)
ANY_DEPLOYMENT = "*"
# Lower is better for these: "below a floor" would fire when the model gets better.
ERROR_METRICS = ("mae", "mse", "rmse", "mape", "log_loss")
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 60.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_RESERVED_HEADERS = ("host", "content-type", "content-length", "transfer-encoding", "connection")
_WEBHOOK_KEYS = ("url", "headers", "timeout", "allow_private", "ca_file")
_RULE_KEYS = (
    "name", "deployment", "when", "column", "metric", "threshold", "notify", "renotify",
)  # fmt: skip
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


@dataclasses.dataclass(frozen=True, slots=True)
class Webhook:
    name: str
    url: str
    headers: FrozenDict = dataclasses.field(default_factory=FrozenDict, repr=False)  # secrets
    timeout: float = DEFAULT_TIMEOUT
    # True: any non-public address is allowed; a tuple: only addresses in these networks.
    allow_private: bool | tuple[Network, ...] = False
    ca_file: Path | None = None  # a CA bundle to verify https targets with, instead of the system's

    def allows(self, address: Address) -> bool:
        """Whether a non-public `address` is explicitly allowed for this webhook."""
        if self.allow_private is True:
            return True
        if self.allow_private is False:
            return False
        return any(address.version == n.version and address in n for n in self.allow_private)


@dataclasses.dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    deployment: str  # a deployment name or "*"
    when: str  # one of CONDITIONS
    column: str | None = None
    metric: str | None = None
    threshold: float | None = None
    notify: tuple[str, ...] = ()  # webhook names
    renotify: float | None = None  # seconds between notifications while it holds; None: once

    @property
    def action(self) -> str:
        """The audit action an alert from this rule is recorded under: `alert.<when>`."""
        return f"alert.{self.when}"

    def applies_to(self, deployment: str) -> bool:
        return self.deployment in (ANY_DEPLOYMENT, deployment)


# -- webhooks ------------------------------------------------------------------------------
def parse_webhooks(section: Field) -> dict[str, Webhook]:
    if section.value is None:
        return {}
    webhooks = {}
    for name in section.mapping():
        entry = section.child(name)
        _name(entry, name)
        webhooks[name] = _webhook(entry, name)
    return webhooks


def _webhook(entry: Field, name: str) -> Webhook:
    if isinstance(entry.value, str):  # `ops: https://...` is shorthand for {url: ...}
        entry = entry.renamed(entry.key, {"url": entry.value})
    entry.mapping(allowed=_WEBHOOK_KEYS)
    url = _url(entry.child("url").required())
    timeout = entry.child("timeout")
    ca_file = entry.child("ca_file")
    return Webhook(
        name=name,
        url=url,
        headers=_headers(entry.child("headers")),
        timeout=DEFAULT_TIMEOUT if timeout.value is None else timeout.number(low=0.1,
                                                                            high=MAX_TIMEOUT),
        allow_private=_allow_private(entry.child("allow_private")),
        ca_file=None if ca_file.value is None else entry.source.parent / ca_file.text(),
    )  # fmt: skip


def _url(field: Field) -> str:
    url = field.text().strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError as exc:
        raise field.error(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise field.error(f"must be an http:// or https:// URL, got scheme {parts.scheme!r}")
    if not parts.hostname:
        raise field.error(f"{url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise field.error("must not hold credentials (user:password@); send them in headers:")
    if port == 0:
        raise field.error(f"{url!r} has port 0")
    return url


def _headers(field: Field) -> FrozenDict:
    if field.value is None:
        return FrozenDict()
    headers = {}
    for key, value in field.mapping().items():
        if not _HEADER_NAME.fullmatch(key):
            raise field.error(f"{key!r} is not a valid header name")
        if key.lower() in _RESERVED_HEADERS:
            raise field.error(f"{key!r} is set by loopml and cannot be configured")
        if not isinstance(value, str) or any(ch in value for ch in "\r\n\0"):
            raise field.child(key).error("must be text on one line")
        headers[key] = value
    return FrozenDict(headers)


def _allow_private(field: Field) -> bool | tuple[Network, ...]:
    value = field.value
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    networks = []
    for index, item in enumerate(field.sequence()):
        entry = field.child(index)
        try:
            networks.append(ipaddress.ip_network(entry.text().strip(), strict=False))
        except ValueError:
            raise entry.error(
                f"{item!r} is not an IP address or network (such as 10.0.0.0/8 or ::1)"
            ) from None
    if not networks:
        raise field.error("an empty list allows nothing: leave allow_private out instead")
    return tuple(networks)


# -- alerts --------------------------------------------------------------------------------
def parse_alerts(section: Field, webhooks: Mapping[str, Webhook]) -> tuple[AlertRule, ...]:
    if section.value is None:
        return ()
    rules: list[AlertRule] = []
    for index in range(len(section.sequence())):
        rule = _rule(section.child(index), webhooks)
        if any(r.name == rule.name for r in rules):
            raise section.child(index).child("name").error(f"{rule.name!r} is used twice")
        rules.append(rule)
    return tuple(rules)


def _rule(entry: Field, webhooks: Mapping[str, Webhook]) -> AlertRule:
    entry.mapping(allowed=_RULE_KEYS)
    name = entry.child("name").required()
    _name(name, name.value)
    entry = entry.renamed(f"{entry.key} ({name.value})")  # errors name it
    deployment = entry.child("deployment").required()
    if deployment.value != ANY_DEPLOYMENT:
        _name(deployment, deployment.value)
    when_field = entry.child("when").required()
    when = when_field.value
    if when not in CONDITIONS:
        raise when_field.error(f"{when!r} is not a condition; use one of {', '.join(CONDITIONS)}")
    column, metric, threshold = (
        entry.child("column"),
        entry.child("metric"),
        entry.child("threshold"),
    )
    parsed: dict[str, Any] = {}
    if when == DATASET_DRIFT:
        for field in (column, metric, threshold):
            field.absent("dataset_drift uses the report's own drift verdict")
    elif when == COLUMN_DRIFT:
        parsed["column"] = column.required().text()
        metric.absent("column_drift looks at a column")
        threshold.absent("column_drift uses the column's drift test and its threshold")
    elif when == PERFORMANCE_BELOW:
        column.absent("performance_below looks at a metric")
        parsed["metric"] = _metric(metric.required())
        parsed["threshold"] = threshold.required().number()
    else:
        parsed["column"] = column.required().text()
        metric.absent("null_share_above looks at a column")
        parsed["threshold"] = threshold.required().number(low=0.0, high=1.0)
    return AlertRule(name.value, deployment.value, when, notify=_notify(entry, webhooks),
                     renotify=_renotify(entry.child("renotify")), **parsed)  # fmt: skip


def _renotify(field: Field) -> float | None:
    """Seconds, from a number or text such as 90s, 30m, 6h, 1d; None when absent."""
    value = field.value
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise field.error(f"must be a duration such as 30m, 6h or 1d, got {value!r}")
        seconds = float(match[1]) * _SECONDS[match[2]]
    if not 0 < seconds < float("inf"):
        raise field.error(f"must be a finite duration longer than zero, got {value!r}")
    return seconds


def _metric(field: Field) -> str:
    metric = field.text()
    if metric.lower() in ERROR_METRICS:
        raise field.error(
            f"{metric!r} is an error (lower is better), so 'below a floor' would fire as the "
            "model improves; use a score such as accuracy, f1, roc_auc or r2"
        )
    return metric


def _notify(entry: Field, webhooks: Mapping[str, Webhook]) -> tuple[str, ...]:
    field = entry.child("notify")
    if field.value is None:
        return ()
    names = []
    for index in range(len(field.sequence())):
        item = field.child(index)
        name = item.text()
        if name not in webhooks:
            known = ", ".join(sorted(webhooks)) or "none are defined"
            raise item.error(f"no webhook named {name!r} under webhooks: ({known})")
        names.append(name)
    return tuple(dict.fromkeys(names))


def _name(field: Field, value: Any) -> None:
    try:
        validate_name(value, "name")
    except InvalidArgumentError as exc:
        raise field.error(str(exc)) from None
