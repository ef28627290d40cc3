"""Model performance on the labeled part of a window, next to the metrics of training."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from loopml.core.entities import FrozenDict
from loopml.core.monitoring import Performance


def task_of(outputs: Sequence[Any], labels: Sequence[Any]) -> str:
    """Classification when predictions and labels look like classes, else regression."""
    values = [*outputs, *labels]
    if all(isinstance(v, bool | int | str) for v in values):
        return "classification"
    numbers = np.asarray([v for v in values if isinstance(v, int | float)], dtype=float)
    if len(numbers) == len(values) and np.all(np.mod(numbers, 1) == 0) and len(set(numbers)) <= 50:
        return "classification"
    return "regression"


def performance(
    outputs: Sequence[Any],
    labels: Sequence[Any],
    training_metrics: Mapping[str, float] | None = None,
    probabilities: Sequence[Any] | None = None,
) -> Performance:
    training = FrozenDict(training_metrics or {})
    if not labels:
        return Performance(False, training_metrics=training, reason="no labels in this window yet")
    task = task_of(outputs, labels)
    scores = (
        _classification(outputs, labels)
        if task == "classification"
        else _regression(outputs, labels)
    )
    clean = {k: v for k, v in scores.items() if v is not None and math.isfinite(v)}
    return Performance(True, task, len(labels), FrozenDict(clean), training)


def _classification(outputs: Sequence[Any], labels: Sequence[Any]) -> dict[str, float | None]:
    from sklearn import metrics as m

    y, p = [str(v) for v in labels], [str(v) for v in outputs]
    scores: dict[str, float | None] = {
        "accuracy": float(m.accuracy_score(y, p)),
        "precision": float(m.precision_score(y, p, average="macro", zero_division=0)),
        "recall": float(m.recall_score(y, p, average="macro", zero_division=0)),
        "f1": float(m.f1_score(y, p, average="macro", zero_division=0)),
    }
    classes = sorted(set(y))
    if len(classes) == 2 and set(p) <= set(classes):
        scores["roc_auc"] = float(m.roc_auc_score([c == classes[1] for c in y],
                                                  [c == classes[1] for c in p]))  # fmt: skip
    return scores


def _regression(outputs: Sequence[Any], labels: Sequence[Any]) -> dict[str, float | None]:
    from sklearn import metrics as m

    y = np.asarray(labels, dtype=float)
    p = np.asarray(outputs, dtype=float)
    return {
        "mae": float(m.mean_absolute_error(y, p)),
        "rmse": float(math.sqrt(m.mean_squared_error(y, p))),
        "r2": float(m.r2_score(y, p)) if len(y) > 1 else None,
    }
