"""The store interfaces as a remote API: which calls exist, which only read, and how their
arguments and results cross the wire. The server and the remote store both read this one
table, so a method added to an interface is served and proxied without more code.

    POST /api/v1/{store}/{method}   {"kwargs": {...encoded...}}  ->  {"result": ...encoded...}
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from loopml.core.codec import ENUM as ENUM_TAG
from loopml.core.codec import FLOAT as FLOAT_TAG
from loopml.core.codec import TIME as TIME_TAG
from loopml.core.codec import TUPLE as TUPLE_TAG
from loopml.core.codec import TYPE as TYPE_TAG
from loopml.core.codec import decode, encode
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.store.base import (
    AuditStore,
    DatasetStore,
    DeploymentStore,
    LoopStore,
    ModelStore,
    MonitorStore,
    PredictionStore,
    ProjectStore,
    RetentionStore,
    RunPage,
    RunStore,
)

API_PREFIX = "/api/v1"
STORES: dict[str, type] = {
    "projects": ProjectStore,
    "runs": RunStore,
    "datasets": DatasetStore,
    "models": ModelStore,
    "audit": AuditStore,
    "deployments": DeploymentStore,
    "predictions": PredictionStore,
    "monitoring": MonitorStore,
    "loops": LoopStore,
    "retention": RetentionStore,
}
# Calls that change nothing; every other call needs a role that may write.
READS = frozenset({
    "get", "list", "search", "count", "query", "events", "artifacts", "inputs", "get_artifact",
    "metric_history", "producers", "consumers", "find_by_digest", "produced_by", "revision",
    "revisions", "latest_version", "list_latest", "list_versions", "versions_from_run",
    "get_version", "get_model", "get_alias", "list_models", "failure_count", "finished_with_tag",
    "referenced_digests",
})  # fmt: skip


@cache
def methods(store: str) -> dict[str, inspect.Signature]:
    """The public methods of one store interface, with their signatures (without self)."""
    interface = STORES.get(store)
    if interface is None:
        raise NotFoundError(f"no store {store!r} (stores: {', '.join(STORES)})")
    found = {}
    for name in sorted(interface.__abstractmethods__):
        signature = inspect.signature(getattr(interface, name))
        found[name] = signature.replace(parameters=list(signature.parameters.values())[1:])
    return found


def is_read(method: str) -> bool:
    return method in READS


def bind(store: str, method: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Check `kwargs` against the method's signature and annotations; errors name what is
    wrong. (A number argument is finite: NaN and infinity travel only inside records, as
    metric values do.)"""
    signature = methods(store).get(method)
    if signature is None:
        raise NotFoundError(f"store {store!r} has no method {method!r}")
    try:
        bound = signature.bind(**kwargs)
    except TypeError as exc:
        raise InvalidArgumentError(f"{store}.{method}: {exc}") from None
    hints = _hints(store, method)
    for name, value in bound.arguments.items():
        if name in hints and not _conforms(value, hints[name]):
            raise InvalidArgumentError(f"{store}.{method}: {name} {_describe(value, hints[name])}")
        if isinstance(value, float) and not math.isfinite(value):  # a duration, a threshold
            raise InvalidArgumentError(f"{store}.{method}: {name} must be finite, got {value}")
    return dict(bound.arguments)


# -- argument types --------------------------------------------------------------------------
# A value from the wire is checked against the method's annotations (and a record's fields
# against the record's), so a store never sees a list where it takes a string, a string where
# it takes a number, or an integer no database column can hold: those are the caller's
# mistakes (400), not the server's (500). Forms the checker does not know pass unchecked.
INT_RANGE = range(-(1 << 63), 1 << 63)  # what every backend's integer columns hold
_UNIONS = (typing.Union, types.UnionType)


@cache
def _hints(store: str, method: str) -> dict[str, Any]:
    return typing.get_type_hints(getattr(STORES[store], method))


@cache
def _field_hints(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.init)


def _conforms(value: Any, hint: Any) -> bool:
    return _checker(hint)(value)


@cache
def _checker(hint: Any) -> Callable[[Any], bool]:
    """A test for values of `hint`, built once per annotation (a batch of a thousand metrics
    is checked in a few milliseconds)."""
    if hint is Any:
        return _anything
    if hint is None or hint is type(None):
        return _is_none
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None:
        if hint is bool:
            return lambda v: isinstance(v, bool)
        if hint is str:  # no NUL: PostgreSQL cannot store one, nor look one up
            return lambda v: isinstance(v, str) and "\x00" not in v
        if hint is int:
            low, high = INT_RANGE[0], INT_RANGE[-1]
            return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
        if hint is float:
            return lambda v: isinstance(v, int | float) and not isinstance(v, bool)
        if hint is datetime:
            return lambda v: isinstance(v, datetime) and (v.tzinfo is not None or _on_the_clock(v))
        if not isinstance(hint, type):
            return _anything
        if dataclasses.is_dataclass(hint):
            return lambda v: (
                isinstance(v, hint)
                and all(check(getattr(v, name)) for name, check in _field_checks(hint))
            )
        if issubclass(hint, enum.Enum):
            return lambda v: isinstance(v, hint) or _is_value_of(hint, v)
        return lambda v: isinstance(v, hint)
    if origin in _UNIONS:
        checks = tuple(_checker(arg) for arg in args if arg is not type(None))
        if len(checks) == 1 and len(args) == 2:  # X | None
            return lambda v, check=checks[0]: v is None or check(v)
        checks += (_is_none,) if len(checks) < len(args) else ()
        return lambda v: any(check(v) for check in checks)
    if origin is typing.Literal:
        return lambda v: v in args
    if isinstance(origin, type) and issubclass(origin, Mapping):  # also FrozenDict[K, V]
        key, item = (_checker(arg) for arg in args) if args else (_anything, _anything)
        return lambda v: isinstance(v, Mapping) and all(key(k) and item(x) for k, x in v.items())
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            each = _checker(args[0])
            return lambda v: isinstance(v, tuple) and all(map(each, v))
        checks = tuple(_checker(arg) for arg in args)
        if not checks:
            return lambda v: isinstance(v, tuple)
        return lambda v: (
            isinstance(v, tuple)
            and len(v) == len(checks)
            and all(check(x) for check, x in zip(checks, v, strict=True))
        )
    if origin in (Sequence, list):
        # A list or a tuple only: a str is a Sequence[str] too ("ab" would be read as the
        # projects "a" and "b" behind an access check on "ab"), and so are bytes and ranges.
        each = _checker(args[0]) if args else _anything
        return lambda v: isinstance(v, list | tuple) and all(map(each, v))
    return _anything


@cache
def _field_checks(cls: type) -> tuple[tuple[str, Callable[[Any], bool]], ...]:
    return tuple((name, _checker(hint)) for name, hint in _field_hints(cls))


def _anything(value: Any) -> bool:
    return True


def _is_none(value: Any) -> bool:
    return value is None


def _on_the_clock(value: datetime) -> bool:
    """Whether a naive time has a place on the epoch clock stores keep times on (at the start
    of year 1 it has none in most time zones)."""
    try:
        value.timestamp()
    except (ValueError, OverflowError, OSError):
        return False
    return True


def _is_value_of(cls: type[enum.Enum], value: Any) -> bool:
    """A plain value that names a member ("FINISHED" for RunStatus.FINISHED), as local callers
    may pass and stores accept."""
    try:
        cls(value)
    except (ValueError, TypeError):
        return False
    return True


def _show(hint: Any) -> str:
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__name__
    return re.sub(r"\b(?:collections\.abc|typing|datetime|loopml(?:\.\w+)*)\.", "", str(hint))


def _describe(value: Any, hint: Any) -> str:
    """What was sent instead, down to the first item or record field of the wrong type:
    "is str 'x', not int", "item 2 is a Metric whose value is str 'v', not float"."""
    hints = [h for h in typing.get_args(hint) if h is not type(None)]
    inner = hints[0] if typing.get_origin(hint) in _UNIONS and len(hints) == 1 else hint
    if typing.get_origin(inner) in (Sequence, list) and isinstance(value, list | tuple):
        item = (typing.get_args(inner) or (Any,))[0]
        for index, element in enumerate(value):
            if not _conforms(element, item):
                return f"item {index} {_describe(element, item)}"
    origin = typing.get_origin(inner)
    if isinstance(origin, type) and issubclass(origin, Mapping) and isinstance(value, Mapping):
        key_hint, item_hint = typing.get_args(inner) or (Any, Any)
        for key, element in value.items():
            if not _conforms(key, key_hint):
                return f"key {_describe(key, key_hint)}"
            if not _conforms(element, item_hint):
                return f"item {str(key)[:40]!r} {_describe(element, item_hint)}"
    if dataclasses.is_dataclass(inner) and type(value) is inner:
        for name, field_hint in _field_hints(inner):
            field = getattr(value, name)
            if not _conforms(field, field_hint):
                return f"is a {inner.__name__} whose {name} {_describe(field, field_hint)}"
    if isinstance(value, str) and "\x00" in value and not _conforms(value, hint):
        return f"holds a NUL character (refused): {value[:40]!r}"
    if isinstance(value, int) and value not in INT_RANGE and _conforms(0, hint):
        return f"is {value}, outside the 64-bit integer range"
    text = str(value) if isinstance(value, datetime) else repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"is {type(value).__name__} {text}, not {_show(hint)}"


# -- the wire format as JSON Schema (for the server's OpenAPI document) -----------------------
def request_schema(store: str, method: str) -> dict[str, Any]:
    """The JSON Schema of a call's body, `{"kwargs": {...}}`, in the codec's tagged form."""
    hints, signature = _hints(store, method), methods(store)[method]
    properties = {name: _schema(hints.get(name, Any), ()) for name in signature.parameters}
    required = [name for name, p in signature.parameters.items() if p.default is p.empty]
    kwargs = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        kwargs["required"] = required
    return {"type": "object", "properties": {"kwargs": kwargs}, "additionalProperties": False}


def _tagged(tag: str, schema: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {tag: schema, **more},
            "required": [tag, *more], "additionalProperties": False}  # fmt: skip


def _schema(hint: Any, seen: tuple[type, ...]) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is None or hint is type(None):
        return {"type": "null"}
    if origin in _UNIONS:
        return {"anyOf": [_schema(arg, seen) for arg in args]}
    if origin is tuple:
        items = _schema(args[0], seen) if len(args) == 2 and args[1] is Ellipsis else {}
        return _tagged(TUPLE_TAG, {"type": "array", "items": items})
    if origin in (Sequence, list):
        items = _schema(args[0] if args else Any, seen)
        return {"anyOf": [{"type": "array", "items": items},
                          _tagged(TUPLE_TAG, {"type": "array", "items": items})]}  # fmt: skip
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return {"type": "object", "additionalProperties": _schema(args[1], seen)}
    if hint is float:
        special = _tagged(FLOAT_TAG, {"enum": ["nan", "inf", "-inf"]})
        return {"anyOf": [{"type": "number"}, special]}
    if hint is datetime:
        return _tagged(TIME_TAG, {"type": "string", "format": "date-time"})
    if hint is int:  # bounds that survive as floats (FastAPI's OpenAPI model keeps floats)
        return {"type": "integer", "format": "int64", "minimum": INT_RANGE[0],
                "maximum": INT_RANGE[-1] - 1023}  # fmt: skip
    if hint in (bool, str):
        return {"type": "boolean" if hint is bool else "string"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = {"enum": [member.value for member in hint]}
        return _tagged(ENUM_TAG, {"const": hint.__name__}, value=values)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if hint in seen:
            return {"type": "object"}
        fields = [f for f in dataclasses.fields(hint) if f.init]
        properties = {TYPE_TAG: {"const": hint.__name__}}
        properties |= {name: _schema(h, (*seen, hint)) for name, h in _field_hints(hint)}
        required = [TYPE_TAG] + [f.name for f in fields if f.default is dataclasses.MISSING
                                 and f.default_factory is dataclasses.MISSING]  # fmt: skip
        return {"type": "object", "properties": properties, "required": required,
                "additionalProperties": False}  # fmt: skip
    if isinstance(hint, type) and issubclass(hint, Mapping):
        return {"type": "object"}
    return {}


def call_arguments(store: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict:
    """Positional and keyword arguments of a client call, all by name."""
    signature = methods(store)[method]
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{store}.{method}: {exc}") from None
    return dict(bound.arguments)


def encode_result(value: Any) -> Any:
    if isinstance(value, RunPage):  # a list that also carries the next page's token
        return {"$page": encode(list(value)), "next_page_token": value.next_page_token}
    return encode(value)


def decode_result(value: Any) -> Any:
    if isinstance(value, dict) and "$page" in value:
        return RunPage(decode(value["$page"]), value.get("next_page_token"))
    return decode(value)


def encode_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {name: encode(value) for name, value in arguments.items()}


def decode_arguments(arguments: Any) -> dict[str, Any]:
    if not isinstance(arguments, dict):
        raise InvalidArgumentError("the body must be a JSON object with 'kwargs': {name: value}")
    # Lists and mappings arrive as lists and FrozenDicts: both serve wherever a store takes a
    # Sequence or a Mapping.
    return {name: decode(value) for name, value in arguments.items()}
