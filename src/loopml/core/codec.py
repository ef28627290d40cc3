"""Core records to JSON and back, generically: what a server and its remote store exchange.

Records are tagged with their class name, so the client gets back exactly what a local store
returns (immutable records with datetimes, enums, tuples and FrozenDicts), without a
hand-written serializer per entity that could drift from the entity itself.

    text = json.dumps(encode(run))      # {"$type": "Run", "id": ..., "start_time": {"$time": ...}}
    decode(json.loads(text)) == run
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import importlib
import math
from datetime import datetime
from functools import cache
from typing import Any

from loopml.core.entities import FrozenDict
from loopml.core.errors import InvalidArgumentError

RECORD_MODULES = (
    "entities", "datasets", "models", "pipelines", "serving", "monitoring", "loops",
)  # fmt: skip
TYPE, ENUM, TIME, TUPLE, BYTES, FLOAT, MAP = (
    "$type", "$enum", "$time", "$tuple", "$bytes", "$float", "$map",
)  # fmt: skip


@cache
def _known() -> dict[str, type]:
    """Every dataclass and enum defined in the core record modules, by name."""
    known: dict[str, type] = {}
    for name in RECORD_MODULES:
        module = importlib.import_module(f"loopml.core.{name}")
        for value in vars(module).values():
            is_record = dataclasses.is_dataclass(value) or (
                isinstance(value, type) and issubclass(value, enum.Enum)
            )
            if is_record and isinstance(value, type) and value.__module__ == module.__name__:
                known[value.__name__] = value
    return known


def encode(value: Any) -> Any:
    """JSON-ready form of `value` (records, containers and plain values, nested)."""
    if isinstance(value, enum.Enum):  # before str and int: StrEnums are both
        return {ENUM: type(value).__name__, "value": value.value}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {FLOAT: repr(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name))
                  for f in dataclasses.fields(value) if f.init}  # fmt: skip
        return {TYPE: type(value).__name__, **fields}
    if isinstance(value, datetime):
        return {TIME: value.isoformat()}
    if isinstance(value, tuple):
        return {TUPLE: [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, bytes):
        return {BYTES: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {MAP: [[encode(k), encode(v)] for k, v in value.items()]}
    if hasattr(value, "tolist"):  # numpy scalars and arrays that reach a record
        return encode(value.tolist())
    raise InvalidArgumentError(f"cannot encode a {type(value).__name__} as JSON")


def decode(value: Any) -> Any:
    """The value `encode` was given (dicts come back as FrozenDicts).

    Text from elsewhere that is not what `encode` writes (a tag with a value of the wrong kind,
    a time that does not parse, a record missing a field) is an InvalidArgumentError."""
    try:
        return _decode(value)
    except InvalidArgumentError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise InvalidArgumentError(f"malformed value: {type(exc).__name__}: {exc}") from None
    except RecursionError:
        raise InvalidArgumentError("the value is nested too deeply") from None


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        return _unicode(value)
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if TYPE in value:
        return _record(value)
    if ENUM in value:
        return _class(value[ENUM])(value["value"])
    if TIME in value:
        return datetime.fromisoformat(_text(value[TIME], TIME))
    if TUPLE in value:
        return tuple(_decode(v) for v in _list(value[TUPLE], TUPLE))
    if BYTES in value:
        return base64.b64decode(_text(value[BYTES], BYTES), validate=True)
    if FLOAT in value:
        return float(_text(value[FLOAT], FLOAT))
    if MAP in value:
        pairs = _list(value[MAP], MAP)
        if not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
            raise InvalidArgumentError(f"{MAP} takes a list of [key, value] pairs")
        return FrozenDict({_hashable(_decode(k)): _decode(v) for k, v in pairs})
    return FrozenDict({_unicode(k): _decode(v) for k, v in value.items()})


def _unicode(text: str) -> str:
    """`text`, unless it holds a lone surrogate: "\\ud800" is valid JSON, but no UTF-8 text
    (and so no database) can hold it."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgumentError(
                f"{_short(text)} holds a lone UTF-16 surrogate, which is not text"
            ) from None
    return text


def _short(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."


def _record(value: dict[str, Any]) -> Any:
    cls = _class(value[TYPE])
    if not dataclasses.is_dataclass(cls):
        raise InvalidArgumentError(f"{value[TYPE]!r} is not a record type")
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(value) - names - {TYPE}
    if unknown:
        raise InvalidArgumentError(f"{value[TYPE]} has no fields {', '.join(sorted(unknown))}")
    return cls(**{k: _decode(v) for k, v in value.items() if k != TYPE})


def _class(name: Any) -> type:
    found = _known().get(name) if isinstance(name, str) else None
    if found is None:
        raise InvalidArgumentError(f"unknown record type {name!r}")
    return found


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


def _text(value: Any, tag: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{tag} takes a string, got {type(value).__name__}")
    return value


def _list(value: Any, tag: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidArgumentError(f"{tag} takes a list, got {type(value).__name__}")
    return value
