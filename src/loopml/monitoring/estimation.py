"""Performance estimated without labels, from the probabilities a classifier served
(confidence-based estimation, as NannyML's CBPE): while labels are late, a calibrated model's
own confidence says how often it is right.

With labelled predictions of the same model at hand, the scores are first recalibrated on them
(isotonic regression of "was right" on the score), which is what keeps the estimate honest
when the model's confidence is off; without them the served probabilities are taken as they
are, and the estimate is only as good as the model's calibration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from loopml.core.entities import FrozenDict
from loopml.core.monitoring import Performance
from loopml.registry.confidence import class_key

MIN_ROWS = 30
MIN_CALIBRATION = 100  # labelled predictions before recalibrating on them


def estimate(
    probabilities: Sequence[Mapping[str, float] | None],
    calibration: tuple[Sequence[Mapping[str, float] | None], Sequence[Any]] | None = None,
) -> Performance:
    """Estimated accuracy (and roc_auc for two classes) of the rows' served probabilities.
    `calibration`: probabilities and labels of labelled predictions of the same model."""
    rows = [q for q in probabilities if q]
    if len(rows) < MIN_ROWS:
        return Performance(False, reason=f"{len(rows)} predictions with probabilities "
                                         f"(estimation needs {MIN_ROWS})")  # fmt: skip
    classes = sorted({c for q in rows for c in q})
    matrix = np.asarray([[q.get(c, 0.0) for c in classes] for q in rows], dtype=float)
    mapping = _calibrator(classes, calibration)
    confident = mapping(matrix)  # each row's chance of being right
    metrics = {"accuracy": float(confident.mean())}
    if len(classes) == 2:
        positive = _positive_chance(matrix, confident)
        metrics["roc_auc"] = expected_auc(matrix[:, 1], positive)
    clean = {k: v for k, v in metrics.items() if np.isfinite(v)}
    return Performance(True, "classification", len(rows), FrozenDict(clean),
                       reason="estimated from the served probabilities (no labels)")  # fmt: skip


def expected_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The ROC AUC expected when each row is positive with probability `positive`: expected
    true and false positives above every threshold, integrated by the trapezoid rule."""
    order = np.argsort(-scores, kind="stable")
    p = positive[order]
    tp, fp = np.cumsum(p), np.cumsum(1 - p)
    if tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    tpr = np.concatenate([[0.0], tp / tp[-1]])
    fpr = np.concatenate([[0.0], fp / fp[-1]])
    return float(np.trapezoid(tpr, fpr))


def _positive_chance(matrix: np.ndarray, confident: np.ndarray) -> np.ndarray:
    """Each row's chance of being of the second class, from its chance of being right."""
    says_positive = matrix[:, 1] >= matrix[:, 0]
    return np.where(says_positive, confident, 1 - confident)


def _calibrator(
    classes: list[str],
    calibration: tuple[Sequence[Mapping[str, float] | None], Sequence[Any]] | None,
) -> Any:
    """score matrix -> chance each row's top class is right: isotonic on labelled rows when
    there are enough, else the top probability itself."""

    def top(matrix: np.ndarray) -> np.ndarray:
        return matrix.max(axis=1)

    if calibration is None:
        return top
    pairs = [(q, y) for q, y in zip(*calibration, strict=False) if q]
    if len(pairs) < MIN_CALIBRATION:
        return top
    from sklearn.isotonic import IsotonicRegression

    matrix = np.asarray([[q.get(c, 0.0) for c in classes] for q, _ in pairs], dtype=float)
    truth = [class_key(y, classes) for _, y in pairs]
    picked = [classes[int(i)] for i in matrix.argmax(axis=1)]
    right = np.asarray([a == b for a, b in zip(picked, truth, strict=True)], dtype=float)
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    fitted.fit(top(matrix), right)
    return lambda m: np.asarray(fitted.predict(top(m)), dtype=float)
