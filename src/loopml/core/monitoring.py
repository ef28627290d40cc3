"""Records of monitoring: per-column drift, data quality, performance, and the report."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from loopml.core.entities import FrozenDict


@dataclasses.dataclass(frozen=True, slots=True)
class ColumnDrift:
    name: str
    test: str  # ks, wasserstein, chisquare, jensenshannon, psi
    statistic: float  # the p-value for ks and chisquare, else the distance
    threshold: float
    drifted: bool
    kind: str = "numeric"  # numeric | categorical
    reference_rows: int = 0
    current_rows: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class QualityFinding:
    column: str | None
    kind: str  # missing_column, type_changed, all_null, empty_window, nulls, out_of_range
    message: str
    share: float | None = None  # of current rows affected, where that applies


@dataclasses.dataclass(frozen=True, slots=True)
class Performance:
    available: bool
    task: str | None = None  # classification | regression
    rows: int = 0  # labeled predictions in the window
    metrics: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    training_metrics: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    reason: str | None = None  # why not available


@dataclasses.dataclass(frozen=True, slots=True)
class MonitorReport:
    id: str
    target: str  # "deployment:NAME" or "frame"
    time: datetime
    reference: str  # what the current data was compared against
    current: str  # which window or data
    reference_rows: int
    current_rows: int
    dataset_drift: bool
    drift_share: float
    drift_threshold: float
    columns: FrozenDict[str, ColumnDrift]
    prediction_drift: ColumnDrift | None = None
    quality: tuple[QualityFinding, ...] = ()
    performance: Performance = dataclasses.field(default_factory=lambda: Performance(False))
    model: str | None = None  # the model version whose traffic this is, when one
    alerts: tuple[str, ...] = ()  # names of the loopml.yaml alert rules this report fired
    # Performance of each version that answered in the window ("name/version"): during a
    # canary the canary's answers are never scored as the primary's (`performance` is the
    # primary's, or the version asked for).
    versions: FrozenDict[str, Performance] = dataclasses.field(default_factory=FrozenDict)
    # Estimated from the served probabilities of the whole window, labelled or not (while
    # labels are late); beside `performance`, which is realised on the labelled part.
    estimated: Performance | None = None

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, column in self.columns.items() if column.drifted]


def report_to_json(report: MonitorReport) -> dict[str, Any]:
    from loopml.core.entities import to_dict

    return to_dict(report)  # type: ignore[no-any-return]


def report_from_json(data: dict[str, Any]) -> MonitorReport:
    from loopml.core.ids import parse_time

    columns = {k: _drift(v) for k, v in data["columns"].items()}
    prediction = data.get("prediction_drift")
    perf = data.get("performance") or {"available": False}
    versions = {uri: _performance(v) for uri, v in (data.get("versions") or {}).items()}
    return MonitorReport(
        id=data["id"],
        target=data["target"],
        time=parse_time(data["time"]),
        reference=data["reference"],
        current=data["current"],
        reference_rows=data["reference_rows"],
        current_rows=data["current_rows"],
        dataset_drift=data["dataset_drift"],
        drift_share=data["drift_share"],
        drift_threshold=data["drift_threshold"],
        columns=FrozenDict(columns),
        prediction_drift=_drift(prediction) if prediction else None,
        quality=tuple(QualityFinding(**q) for q in data.get("quality", ())),
        performance=_performance(perf),
        model=data.get("model"),
        versions=FrozenDict(versions),
        estimated=_performance(data["estimated"]) if data.get("estimated") else None,
        alerts=tuple(data.get("alerts") or ()),
    )


def _drift(data: dict[str, Any]) -> ColumnDrift:
    # Strict JSON has no NaN or infinity: the store keeps them as "nan", "inf", "-inf".
    return ColumnDrift(**{**data, "statistic": float(data["statistic"]),
                          "threshold": float(data["threshold"])})  # fmt: skip


def _performance(data: dict[str, Any]) -> Performance:
    return Performance(
        data["available"],
        data.get("task"),
        data.get("rows", 0),
        FrozenDict(data.get("metrics") or {}),
        FrozenDict(data.get("training_metrics") or {}),
        data.get("reason"),
    )
