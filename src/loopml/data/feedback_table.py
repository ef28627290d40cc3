"""Served predictions (with their labels) as one Arrow table: a row per prediction, a column
per feature, the model's answer, its class probabilities when it gave them, the label, and
the ids and times that join a row back to its prediction.

The table depends on the rows only (no clock, no window), so the same predictions make the
same Parquet bytes and `add` finds nothing new.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from loopml.core.serving import Prediction

HEAD = ("prediction_id", "predicted_at", "model", "model_version", "route")
TAIL = ("prediction", "label", "labeled_at")
PROBA_PREFIX = "proba_"
METADATA_KEY = b"loopml.feedback"


class FeedbackRows:
    """Predictions gathered page by page, kept as plain columns until `table()`."""

    def __init__(self) -> None:
        self.meta: dict[str, list[Any]] = {name: [] for name in (*HEAD, *TAIL)}
        self.features: list[Mapping[str, Any]] = []
        self.probabilities: list[Mapping[str, Any] | None] = []

    def __len__(self) -> int:
        return len(self.features)

    def extend(self, predictions: Iterable[Prediction]) -> None:
        meta = self.meta
        for p in predictions:
            for name, value in (
                ("prediction_id", p.id), ("predicted_at", p.time), ("model", p.model),
                ("model_version", p.version), ("route", p.route.value),
                ("prediction", p.output), ("label", p.label), ("labeled_at", p.labeled_time),
            ):  # fmt: skip
                meta[name].append(value)
            self.features.append(p.features)
            self.probabilities.append(getattr(p, "probabilities", None))  # newer stores only

    def table(self, deployment: str) -> Any:
        """The rows as a pyarrow Table; metadata names the deployment and the rows' times."""
        import pyarrow as pa

        columns: dict[str, Any] = {}
        for name in HEAD:
            columns[name] = _meta_column(name, self.meta[name])
        for name, values in _spread(self.features).items():
            columns[_unique(name, columns)] = _column(values)
        columns["prediction"] = _column(self.meta["prediction"])
        for name, values in _spread(self.probabilities).items():
            columns[_unique(PROBA_PREFIX + name, columns)] = _column(values)
        columns["label"] = _column(self.meta["label"])
        columns["labeled_at"] = _meta_column("labeled_at", self.meta["labeled_at"])
        table = pa.table(columns)
        return table.replace_schema_metadata({METADATA_KEY: self._metadata(deployment)})

    def _metadata(self, deployment: str) -> bytes:
        times: list[datetime] = self.meta["predicted_at"]
        facts = {
            "deployment": deployment,
            "rows": len(self),
            "first_predicted_at": min(times).isoformat() if times else None,
            "last_predicted_at": max(times).isoformat() if times else None,
        }
        return json.dumps(facts, sort_keys=True).encode()


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    """A feature named like a fixed column ("label", say) becomes "feature_label"."""
    reserved = (*HEAD, *TAIL)
    while name in taken or name in reserved:
        name = f"feature_{name}"
    return name


def _spread(rows: Sequence[Mapping[str, Any] | None]) -> dict[str, list[Any]]:
    """Column name -> values, over the union of the rows' keys (first seen first); a row
    without a key gets None there."""
    keys: dict[str, None] = {}
    for row in rows:
        if row:
            keys.update(dict.fromkeys(str(k) for k in row))
    return {k: [None if row is None else row.get(k) for row in rows] for k in keys}


def _meta_column(name: str, values: list[Any]) -> Any:
    import pyarrow as pa

    if name in ("predicted_at", "labeled_at"):
        return pa.array(values, pa.timestamp("ms", tz="UTC"))
    return pa.array(values, pa.int64() if name == "model_version" else pa.string())


def _column(values: list[Any]) -> Any:
    """Values as Arrow infers them; nested, mixed or all-missing values as text (JSON for
    anything that is not already a string), so every column profiles and validates."""
    import pyarrow as pa

    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        array = None
    if array is not None and not pa.types.is_nested(array.type):
        return array.cast(pa.string()) if pa.types.is_null(array.type) else array
    return pa.array([_text(v) for v in values], pa.string())


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)
