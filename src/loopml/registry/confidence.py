"""How sure a comparison of two models is: bootstrap confidence intervals for the difference
of a metric, on the same rows (paired: the gate's held-out data) or on different rows
(unpaired: a canary's and its primary's live traffic).

A `Sample` holds one model's answers on labelled rows: the label and prediction of each row as
class keys (text) or numbers, and for a classifier the probability of each class. Metrics that
are means of a per-row score (accuracy, brier, log_loss, mae, mse) and binary roc_auc are
computed for all resamples at once; the others fall back to scikit-learn per resample.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

RESAMPLES = 2000
SLOW_RESAMPLES = 300  # metrics scikit-learn computes one resample at a time
SEED = 20261206  # a fixed seed: the same rows give the same interval on every pass
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mse", "rmse", "mae"})


@dataclasses.dataclass(frozen=True)
class Sample:
    labels: np.ndarray  # class keys (str) for a classifier, numbers for a regressor
    predictions: np.ndarray
    probabilities: np.ndarray | None = None  # rows x classes
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class Interval:
    """The candidate's advantage on `metric` (candidate minus baseline, sign turned so that
    positive is better whatever the metric) with its two-sided confidence interval."""

    metric: str
    advantage: float
    low: float
    high: float
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        return (f"{self.metric} advantage {self.advantage:+.4f}, "
                f"{self.confidence * 100:.4g}% CI [{self.low:+.4f}, {self.high:+.4f}]")  # fmt: skip


def paired(metric: str, candidate: Sample, baseline: Sample, confidence: float) -> Interval:
    """Both models on the same rows: each resample draws the same rows for both."""
    rows = _draws(len(candidate), RESAMPLES)
    mine, theirs = _resampled(metric, candidate, rows), _resampled(metric, baseline, rows)
    count = min(len(mine), len(theirs))  # the slow metrics use the first resamples only
    return _interval(metric, candidate, baseline, mine[:count] - theirs[:count], confidence)


def unpaired(metric: str, candidate: Sample, baseline: Sample, confidence: float) -> Interval:
    """Each model on its own rows (a canary and its primary): resampled independently."""
    mine = _resampled(metric, candidate, _draws(len(candidate), RESAMPLES, 0))
    theirs = _resampled(metric, baseline, _draws(len(baseline), RESAMPLES, 1))
    count = min(len(mine), len(theirs))
    return _interval(metric, candidate, baseline, mine[:count] - theirs[:count], confidence)


def _interval(
    metric: str, candidate: Sample, baseline: Sample, deltas: np.ndarray, confidence: float
) -> Interval:
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    point = sign * (score(metric, candidate) - score(metric, baseline))
    finite = sign * deltas[np.isfinite(deltas)]
    if len(finite) == 0:
        return Interval(metric, point, -math.inf, math.inf, confidence)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(metric, point, float(low), float(high), confidence)


def score(metric: str, sample: Sample) -> float:
    """The metric on the whole sample."""
    return float(_resampled(metric, sample, np.arange(len(sample))[None, :])[0])


def _draws(rows: int, count: int, stream: int = 0) -> np.ndarray:
    generator = np.random.default_rng([SEED, stream, rows])
    return generator.integers(0, rows, size=(count, rows))


def _resampled(metric: str, sample: Sample, rows: np.ndarray) -> np.ndarray:
    """The metric on each resample (one per row of `rows`, which holds row indices)."""
    per_row = _per_row(metric, sample)
    if per_row is not None:
        means = per_row[rows].mean(axis=1)
        return np.sqrt(means) if metric == "rmse" else means
    if metric == "roc_auc" and len(sample.classes) == 2 and sample.probabilities is not None:
        positive = sample.labels == sample.classes[1]
        return _auc(positive[rows], sample.probabilities[:, 1][rows])
    slow = _slow_metric(metric, sample)
    return np.asarray([slow(r) for r in rows[:SLOW_RESAMPLES]], dtype=float)


def _per_row(metric: str, sample: Sample) -> np.ndarray | None:
    y, p = sample.labels, sample.predictions
    if metric == "accuracy":
        return (y == p).astype(float)
    if metric in ("mae", "mse", "rmse"):
        error = y.astype(float) - p.astype(float)
        return np.abs(error) if metric == "mae" else error**2
    if metric in ("brier", "log_loss") and sample.probabilities is not None:
        truth = np.asarray([[label == c for c in sample.classes] for label in y], dtype=float)
        q = np.clip(sample.probabilities, 1e-15, 1.0)
        if metric == "log_loss":
            return -(truth * np.log(q)).sum(axis=1)
        if len(sample.classes) == 2:
            return (q[:, 1] - truth[:, 1]) ** 2
    return None


def _auc(positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Binary AUC of each row (Mann-Whitney, ties counted half), NaN with one class only."""
    order = np.argsort(scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    ranks = _average_ranks(ranked)
    is_positive = np.take_along_axis(positive, order, axis=1)
    n1 = is_positive.sum(axis=1).astype(float)
    n0 = positive.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * is_positive).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), auc, np.nan)


def _average_ranks(ranked: np.ndarray) -> np.ndarray:
    """1-based ranks of sorted rows, tied values sharing their average rank."""
    n = ranked.shape[1]
    position = np.broadcast_to(np.arange(1, n + 1, dtype=float), ranked.shape)
    new_group = np.ones(ranked.shape, dtype=bool)
    new_group[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    if new_group.all():
        return position
    groups = np.cumsum(new_group, axis=1)
    ranks = np.empty(ranked.shape)
    for row in range(ranked.shape[0]):  # only rows with ties reach here
        sums = np.bincount(groups[row], weights=position[row])
        counts = np.bincount(groups[row])
        ranks[row] = (sums / np.maximum(counts, 1))[groups[row]]
    return ranks


def _slow_metric(metric: str, sample: Sample) -> Callable[[np.ndarray], float]:
    from sklearn import metrics as m

    y, p, q = sample.labels, sample.predictions, sample.probabilities
    functions: dict[str, Callable[[np.ndarray], float]] = {
        "f1": lambda r: m.f1_score(y[r], p[r], average="macro", zero_division=0),
        "precision": lambda r: m.precision_score(y[r], p[r], average="macro", zero_division=0),
        "recall": lambda r: m.recall_score(y[r], p[r], average="macro", zero_division=0),
        "r2": lambda r: m.r2_score(y[r].astype(float), p[r].astype(float)),
    }
    if q is not None:
        functions["roc_auc"] = lambda r: _safe(lambda: m.roc_auc_score(
            y[r], q[r], multi_class="ovr", labels=list(sample.classes)))  # fmt: skip
    if metric not in functions:
        raise ValueError(f"no interval for metric {metric!r} on this sample")
    return lambda r: _safe(lambda: functions[metric](r))


def _safe(compute: Callable[[], float]) -> float:
    try:
        return float(compute())
    except ValueError:  # a resample with one class only
        return math.nan


def sample_of(
    labels: Sequence[Any],
    predictions: Sequence[Any],
    probabilities: Any = None,
    classes: Sequence[Any] = (),
) -> Sample:
    """A sample from plain values. `probabilities`: a rows x classes array (with `classes`),
    or one {class: probability} mapping per row (rows without one make the sample carry no
    probabilities). Classifiers' labels and predictions become class keys."""
    keys = tuple(str(c) for c in classes)
    matrix = None
    if probabilities is not None and len(probabilities) and isinstance(probabilities[0], dict):
        if all(probabilities):
            keys = tuple(sorted({c for row in probabilities for c in row}))
            matrix = np.asarray([[row.get(c, 0.0) for c in keys] for row in probabilities])
    elif probabilities is not None:
        matrix = np.asarray(probabilities, dtype=float)
    if not keys and task_of(predictions, labels) == "regression":
        return Sample(np.asarray(labels, float), np.asarray(predictions, float))
    known = keys or tuple(sorted({str(v) for v in predictions}))
    y = np.asarray([class_key(v, known) for v in labels])
    p = np.asarray([class_key(v, known) for v in predictions])
    return Sample(y, p, matrix if keys else None, keys)


def task_of(outputs: Sequence[Any], labels: Sequence[Any]) -> str:
    """Classification when predictions and labels look like classes, else regression."""
    values = [*outputs, *labels]
    if all(isinstance(v, bool | int | str | np.integer | np.str_) for v in values):
        return "classification"
    numbers = np.asarray([v for v in values if isinstance(v, int | float | np.number)], float)
    if len(numbers) == len(values) and np.all(np.mod(numbers, 1) == 0) and len(set(numbers)) <= 50:
        return "classification"
    return "regression"


def class_key(label: Any, classes: Sequence[str]) -> str:
    """A label as the model's class key: 1, 1.0, True and "1" all name class "1" when that is
    the model's class."""
    if isinstance(label, np.generic):
        label = label.item()
    text = str(label)
    if text in classes or not isinstance(label, int | float) or isinstance(label, bool):
        return text
    return str(int(label)) if float(label).is_integer() else text
