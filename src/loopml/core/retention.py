"""Retention settings: durations such as `90d`, and `retention:` per deployment in
`loopml.yaml` (how long its prediction log is kept; `loopml gc` deletes what is older):

    deployments:
      iris-api:
        retention: 90d
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from loopml.core.config_fields import Field
from loopml.core.errors import InvalidArgumentError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, None: 1}


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds from text such as 90s, 10m, 1.5h, 30d or 2w (a bare number is seconds)."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidArgumentError(f"{what} must be a duration such as 10m, 1h, 30d or 2w, "
                                   f"got {text!r}")  # fmt: skip
    return float(match[1]) * _UNITS[match[2]]


def parse_deployment_retention(field: Field) -> dict[str, float]:
    """Deployment -> seconds its predictions are kept, from the `deployments:` section (keys
    other than `retention` belong to other readers and are left alone)."""
    if field.value is None:
        return {}
    found: dict[str, float] = {}
    for name, settings in field.mapping().items():
        entry = field.child(name)
        if settings is None:
            continue
        if not isinstance(settings, Mapping):
            raise entry.error(f"must be a mapping (retention: 90d), got {settings!r}")
        value = entry.child("retention")
        if value.value is None:
            continue
        if isinstance(value.value, int | float) and not isinstance(value.value, bool):
            seconds = float(value.value)
        else:
            try:
                seconds = parse_duration(value.value)
            except InvalidArgumentError:
                raise value.error(
                    f"must be a duration such as 30d or 12h, got {value.value!r}"
                ) from None
        if seconds <= 0:
            raise value.error(f"must be longer than zero, got {value.value!r}")
        found[str(name)] = seconds
    return found
