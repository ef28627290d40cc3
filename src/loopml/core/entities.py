"""Immutable records that stores return and users read. Never ORM rows."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NoReturn


class FrozenDict(dict):  # type: ignore[type-arg]
    """A dict that refuses mutation, so records stay immutable yet behave like plain dicts."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("this mapping belongs to an immutable record and cannot be changed")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


def freeze(mapping: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> FrozenDict:
    return FrozenDict(mapping or {})


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


@dataclasses.dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    created_time: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Metric:
    """One point of a metric series. NaN and infinities are kept as they were logged."""

    key: str
    value: float
    step: int
    timestamp: datetime

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metric):
            return NotImplemented
        same_value = self.value == other.value or (
            math.isnan(self.value) and math.isnan(other.value)
        )
        return (self.key, self.step, self.timestamp) == (
            other.key,
            other.step,
            other.timestamp,
        ) and same_value

    def __hash__(self) -> int:
        return hash((self.key, self.step, self.timestamp))


@dataclasses.dataclass(frozen=True, slots=True)
class ArtifactRef:
    """An artifact logged to a run: its name, the digest of its bytes and how to read them."""

    name: str
    digest: str
    serializer: str
    size: int
    created_time: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class RunInput:
    """Something a run consumed, e.g. a dataset version (filled in by the data layer)."""

    kind: str
    name: str
    version: str
    digest: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CodeVersion:
    """The code a run ran: git commit and the BLAKE3 digest of the uncommitted diff (if any)."""

    commit: str | None = None
    diff_digest: str | None = None
    repo_root: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    id: str
    project: str
    name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None = None
    params: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    metrics: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    tags: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    error: str | None = None
    user: str | None = None
    parent_run_id: str | None = None
    code: CodeVersion = dataclasses.field(default_factory=CodeVersion)
    python_version: str | None = None
    env_digest: str | None = None
    heartbeat_time: datetime | None = None
    description: str | None = None
    deleted_time: datetime | None = None  # soft-deleted: hidden from search, purged by gc

    @property
    def duration_seconds(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


def to_dict(record: Any) -> Any:
    """A JSON-ready view of a record (datetimes as ISO 8601 text, enums as their values)."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        fields = [f for f in dataclasses.fields(record) if f.repr]  # repr=False: internals
        return {f.name: to_dict(getattr(record, f.name)) for f in fields}
    if isinstance(record, Mapping):
        return {str(k): to_dict(v) for k, v in record.items()}
    if isinstance(record, list | tuple):
        return [to_dict(v) for v in record]
    if isinstance(record, datetime):
        return record.isoformat()
    if isinstance(record, enum.Enum):
        return record.value
    if isinstance(record, float) and not math.isfinite(record):
        return str(record)
    return record
