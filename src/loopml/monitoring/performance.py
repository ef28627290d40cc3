"""Model performance on the labeled part of a window, next to the metrics of training."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from loopml.core.entities import FrozenDict
from loopml.core.monitoring import Performance
from loopml.registry.confidence import class_key, task_of


def performance(
    outputs: Sequence[Any],
    labels: Sequence[Any],
    training_metrics: Mapping[str, float] | None = None,
    probabilities: Sequence[Mapping[str, float] | None] | None = None,
) -> Performance:
    """Metrics of the labelled predictions. Ranking and probability metrics (roc_auc,
    log_loss) come from the class probabilities the model served, never from hard labels:
    without probabilities they are absent."""
    training = FrozenDict(training_metrics or {})
    if not labels:
        return Performance(False, training_metrics=training, reason="no labels in this window yet")
    task = task_of(outputs, labels)
    if task == "classification":
        scores = _classification(outputs, labels)
        scores.update(ranking(labels, probabilities or []))
    else:
        scores = _regression(outputs, labels)
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
    return scores


def ranking(
    labels: Sequence[Any], probabilities: Sequence[Mapping[str, float] | None]
) -> dict[str, float | None]:
    """roc_auc (one-vs-rest for more than two classes), log_loss and brier (two classes) from
    the served probabilities of the labelled rows that have them."""
    from sklearn import metrics as m

    pairs = [(y, q) for y, q in zip(labels, probabilities, strict=False) if q]
    if len(pairs) < 2:
        return {}
    classes = sorted({c for _, q in pairs for c in q})
    y = [class_key(label, classes) for label, _ in pairs]
    if len(set(y)) < 2 or not set(y) <= set(classes):
        return {}
    matrix = np.asarray([[q.get(c, 0.0) for c in classes] for _, q in pairs], dtype=float)
    if len(classes) == 2:
        positive = np.asarray([c == classes[1] for c in y])
        return {
            "roc_auc": float(m.roc_auc_score(positive, matrix[:, 1])),
            "log_loss": float(m.log_loss(positive, matrix[:, 1], labels=[False, True])),
            "brier": float(m.brier_score_loss(positive, matrix[:, 1])),
        }
    rows = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1e-12, None)
    try:
        auc = float(m.roc_auc_score(y, rows, multi_class="ovr", labels=classes))
    except ValueError:  # a class absent from the labels: no one-vs-rest AUC for it
        auc = None
    return {"roc_auc": auc, "log_loss": float(m.log_loss(y, rows, labels=classes))}


def _regression(outputs: Sequence[Any], labels: Sequence[Any]) -> dict[str, float | None]:
    from sklearn import metrics as m

    y = np.asarray(labels, dtype=float)
    p = np.asarray(outputs, dtype=float)
    return {
        "mae": float(m.mean_absolute_error(y, p)),
        "rmse": float(math.sqrt(m.mean_squared_error(y, p))),
        "r2": float(m.r2_score(y, p)) if len(y) > 1 else None,
    }
