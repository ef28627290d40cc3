"""Records of the data layer: dataset versions, their schema and statistics profile, and
validation reports. All immutable; `to_json`/`from_json` give the stored JSON form."""

from __future__ import annotations

import dataclasses
import enum
import math
from datetime import datetime
from typing import Any


class ColumnType(enum.StrEnum):
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    STRING = "string"
    CATEGORY = "category"  # a string column with a small domain
    DATETIME = "datetime"
    OTHER = "other"

    @property
    def is_numeric(self) -> bool:
        return self in (ColumnType.INTEGER, ColumnType.FLOAT)


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclasses.dataclass(frozen=True, slots=True)
class ColumnSchema:
    name: str
    type: ColumnType
    nullable: bool = True
    categories: tuple[str, ...] | None = None  # the allowed domain of a category column
    min: float | None = None  # observed range of a numeric column
    max: float | None = None
    range_tolerance: float = 0.1  # values beyond the range by more than this share of it warn


@dataclasses.dataclass(frozen=True, slots=True)
class Schema:
    columns: tuple[ColumnSchema, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSchema | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclasses.dataclass(frozen=True, slots=True)
class Histogram:
    edges: tuple[float, ...]  # len(counts) + 1 bin edges
    counts: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ColumnProfile:
    """Statistics of one column, precise enough to serve as a drift reference.

    Numeric columns keep their exact sorted values when there are few (`values`, enough for an
    exact KS test), else a fine quantile sketch (`quantiles_sketch`, 1,001 evenly spaced
    quantiles for Wasserstein and an ECDF-based KS). Categorical columns keep every category's
    count up to a cap (`counts`, exact for chi-square, PSI and Jensen-Shannon) plus `other`.
    """

    name: str
    type: ColumnType
    count: int  # non-null values
    nulls: int
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] | None = None  # "p1", "p5", "p25", "p50", "p75", "p95", "p99"
    histogram: Histogram | None = None
    values: tuple[float, ...] | None = None
    quantiles_sketch: tuple[float, ...] | None = None
    distinct: int | None = None
    counts: dict[str, int] | None = None
    other: int = 0  # values of categories beyond the cap, not in `counts`
    top: tuple[tuple[str, int], ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    rows: int
    columns: tuple[ColumnProfile, ...]

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclasses.dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str  # relative, '/'-separated
    digest: str
    size: int


@dataclasses.dataclass(frozen=True, slots=True)
class DatasetVersion:
    name: str
    version: int
    digest: str  # BLAKE3 over the manifest: equal content, equal digest
    created_time: datetime
    files: int
    size: int
    format: str  # "csv", "parquet", "jsonl" or "files"
    schema: Schema | None = None
    profile: Profile | None = None
    producer_run_id: str | None = None
    profile_digest: str | None = None  # the profile's JSON blob in the artifact store
    created: bool = True  # False when `add` found the latest version already has this content


@dataclasses.dataclass(frozen=True, slots=True)
class Anomaly:
    column: str | None
    kind: str  # missing_column, unexpected_column, type_changed, nulls, out_of_range, ...
    severity: Severity
    count: int
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class ValidationReport:
    dataset: str
    version: int | None
    rows: int
    anomalies: tuple[Anomaly, ...]

    @property
    def ok(self) -> bool:
        """True when no anomaly is an error (warnings do not fail a gate)."""
        return not any(a.severity is Severity.ERROR for a in self.anomalies)

    @property
    def errors(self) -> tuple[Anomaly, ...]:
        return tuple(a for a in self.anomalies if a.severity is Severity.ERROR)


def schema_to_json(schema: Schema) -> dict[str, Any]:
    """JSON-safe: an infinite bound is no bound (strict JSON, e.g. PostgreSQL's, has no inf)."""
    columns = []
    for column in schema.columns:
        fields = dataclasses.asdict(column)
        for key in ("min", "max"):
            if fields[key] is not None and not math.isfinite(fields[key]):
                fields[key] = None
        columns.append(_drop_none(fields))
    return {"columns": columns}


def schema_from_json(data: dict[str, Any]) -> Schema:
    columns = []
    for raw in data["columns"]:
        fields = dict(raw)
        fields["type"] = ColumnType(fields["type"])
        if fields.get("categories") is not None:
            fields["categories"] = tuple(fields["categories"])
        columns.append(ColumnSchema(**fields))
    return Schema(tuple(columns))


def profile_to_json(profile: Profile) -> dict[str, Any]:
    return {
        "rows": profile.rows,
        "columns": [_drop_none(dataclasses.asdict(c)) for c in profile.columns],
    }


def profile_from_json(data: dict[str, Any]) -> Profile:
    columns = []
    for raw in data["columns"]:
        fields = dict(raw)
        fields["type"] = ColumnType(fields["type"])
        if fields.get("histogram") is not None:
            fields["histogram"] = Histogram(
                tuple(fields["histogram"]["edges"]), tuple(fields["histogram"]["counts"])
            )
        for key in ("values", "quantiles_sketch"):
            if fields.get(key) is not None:
                fields[key] = tuple(fields[key])
        fields["top"] = tuple(tuple(pair) for pair in fields.get("top", ()))
        columns.append(ColumnProfile(**fields))
    return Profile(data["rows"], tuple(columns))


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}
