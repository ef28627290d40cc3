"""The documented size limits on what a run records, checked by every store backend.

The SQL store checks them before it writes, so SQLite (which would store anything),
PostgreSQL (which would fail with an error the caller cannot read) and the remote store
(through the server, whose store is a SQL store) all refuse the same values with an
InvalidArgumentError (400 through the server) that names the limit:

| what                         | limit           |
|------------------------------|-----------------|
| metric, param and tag keys   | 250 characters  |
| param values                 | 6,000 characters|
| tag values                   | 8,000 characters|
| run names and users          | 250 characters  |

(MLflow's limits, so runs move between the two.) No key or value may hold a NUL character:
PostgreSQL cannot store one in a text column, and a NUL cuts C strings short elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from loopml.core.entities import Metric
from loopml.core.errors import InvalidArgumentError
from loopml.core.names import MAX_KEY_LENGTH, MAX_PARAM_VALUE_LENGTH

MAX_TAG_VALUE_LENGTH = 8000
MAX_NAME_LENGTH = 250
__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "check_keys",
    "check_metrics",
    "check_params",
    "check_tags",
    "check_text",
]


def _shown(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "...'"


def check_text(what: str, value: str | None, limit: int | None = None) -> None:
    """`value` (None passes) is a str of at most `limit` characters, with no NUL."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, got {type(value).__name__}")
    if limit is not None and len(value) > limit:
        raise InvalidArgumentError(
            f"{what} {_shown(value)} is {len(value)} characters long; the limit is {limit}"
        )
    if "\x00" in value:
        raise InvalidArgumentError(f"{what} {_shown(value)} holds a NUL character (refused)")


def check_keys(kind: str, keys: Iterable[str]) -> None:
    """Metric, param or tag keys: 1 to 250 characters, no NUL."""
    for key in keys:
        check_text(f"{kind} key", key, MAX_KEY_LENGTH)
        if not key:
            raise InvalidArgumentError(f"{kind} key must not be empty")


def _check_values(kind: str, values: Mapping[str, str], limit: int) -> None:
    check_keys(kind, values)
    for key, value in values.items():
        check_text(f"{kind} {_shown(key)} value", value, limit)


def check_params(params: Mapping[str, str]) -> None:
    _check_values("param", params, MAX_PARAM_VALUE_LENGTH)


def check_tags(tags: Mapping[str, str] | None) -> None:
    if tags:
        _check_values("tag", tags, MAX_TAG_VALUE_LENGTH)


def check_metrics(metrics: Sequence[Metric]) -> None:
    """The keys of a batch of points (each distinct key checked once)."""
    check_keys("metric", {point.key for point in metrics})
