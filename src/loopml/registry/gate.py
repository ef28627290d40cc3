"""The gate: is a candidate model better than the baseline (the champion) on the same data?

    decision = loopml.registry.compare("clf/4", "clf@champion", data=holdout, label="y",
                                       policy={"metric": "f1", "must_beat_by": 0.01,
                                               "min": {"accuracy": 0.8}})
    decision.passed, decision.reasons, decision.candidate_metrics

With no baseline (the first model), only the floors and ceilings apply.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loopml.core.errors import InvalidArgumentError
from loopml.core.frames import as_pandas
from loopml.registry import confidence
from loopml.registry.confidence import Interval
from loopml.workspace import Workspace

LOWER_IS_BETTER = confidence.LOWER_IS_BETTER


def _metrics() -> dict[str, Callable[[Any, Any, Any], float]]:
    from sklearn import metrics as m

    def proba(fn: Callable[..., float]) -> Callable[[Any, Any, Any], float]:
        def score(y: Any, predicted: Any, probabilities: Any) -> float:
            if probabilities is None:
                raise InvalidArgumentError("this metric needs a model with predict_proba")
            if probabilities.shape[1] == 2:
                return float(fn(y, probabilities[:, 1]))
            return float(fn(y, probabilities, multi_class="ovr"))

        return score

    return {
        "accuracy": lambda y, p, _: float(m.accuracy_score(y, p)),
        "f1": lambda y, p, _: float(m.f1_score(y, p, average="macro")),
        "precision": lambda y, p, _: float(m.precision_score(y, p, average="macro")),
        "recall": lambda y, p, _: float(m.recall_score(y, p, average="macro")),
        "roc_auc": proba(m.roc_auc_score),
        "log_loss": lambda y, _, q: float(m.log_loss(y, q)),
        "mse": lambda y, p, _: float(m.mean_squared_error(y, p)),
        "rmse": lambda y, p, _: float(math.sqrt(m.mean_squared_error(y, p))),
        "mae": lambda y, p, _: float(m.mean_absolute_error(y, p)),
        "r2": lambda y, p, _: float(m.r2_score(y, p)),
    }


@dataclasses.dataclass(frozen=True)
class GatePolicy:
    metric: str = "accuracy"  # the one that decides
    must_beat_by: float = 0.0  # by how much the candidate must beat the baseline on it
    min: Mapping[str, float] = dataclasses.field(default_factory=dict)  # floors
    max: Mapping[str, float] = dataclasses.field(default_factory=dict)  # ceilings
    lower_is_better: bool | None = None  # default: True for losses and errors
    # With a baseline: pass only when the `confidence` interval of the advantage on `metric`
    # (paired bootstrap over the rows) is above must_beat_by; 0 decides on the point estimate.
    confidence: float = 0.95

    @property
    def lower(self) -> bool:
        if self.lower_is_better is not None:
            return self.lower_is_better
        return self.metric in LOWER_IS_BETTER

    @classmethod
    def of(cls, policy: GatePolicy | Mapping[str, Any] | None) -> GatePolicy:
        if policy is None or isinstance(policy, GatePolicy):
            return policy or cls()
        unknown = set(policy) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InvalidArgumentError(f"unknown gate policy keys: {', '.join(sorted(unknown))}")
        return cls(**policy)


@dataclasses.dataclass(frozen=True)
class GateDecision:
    passed: bool
    metric: str
    candidate: str
    baseline: str | None
    candidate_metrics: Mapping[str, float]
    baseline_metrics: Mapping[str, float] | None
    delta: float | None  # candidate - baseline on the deciding metric
    reasons: tuple[str, ...]
    interval: Interval | None = None  # the advantage's confidence interval, when computed


def compare(
    candidate: str,
    baseline: str | None = None,
    *,
    data: Any,
    label: str,
    metrics: Sequence[str] | None = None,
    policy: GatePolicy | Mapping[str, Any] | None = None,
    workspace: Workspace | None = None,
) -> GateDecision:
    """Evaluate both versions on the same data and decide by the policy."""
    from loopml.registry.api import load

    rules = GatePolicy.of(policy)
    names = _metric_names(rules, metrics)
    frame = _frame(data, label)
    y, features = frame[label], frame.drop(columns=[label])
    ws = workspace or Workspace.current()
    challenger = load(candidate, workspace=ws)
    scores = evaluate(challenger, features, y, names)
    base_scores, interval = None, None
    if baseline is not None:
        champion = load(baseline, workspace=ws)
        base_scores = evaluate(champion, features, y, names)
        if rules.confidence > 0:
            mine, theirs = _sample(challenger, features, y), _sample(champion, features, y)
            interval = confidence.paired(rules.metric, mine, theirs, rules.confidence)
    return decide(challenger.version.uri, scores, baseline, base_scores, rules, interval)


def _sample(model: Any, features: Any, y: Any) -> confidence.Sample:
    """The model's answers on the gate's rows, row by row, for the interval."""
    scores = model.score(model.prepare(features))
    return confidence.sample_of(list(y), scores.predictions.tolist(), scores.probabilities,
                                scores.classes)  # fmt: skip


def _metric_names(rules: GatePolicy, metrics: Sequence[str] | None) -> list[str]:
    names = list(dict.fromkeys([rules.metric, *(metrics or []), *rules.min, *rules.max]))
    known = _metrics()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidArgumentError(
            f"unknown metric {unknown[0]!r}; known: {', '.join(sorted(known))}"
        )
    return names


def _frame(data: Any, label: str) -> Any:
    import pandas as pd

    if isinstance(data, str | Path):
        from loopml.data.readers import to_table

        data = to_table(Path(data)).to_pandas()
    data = as_pandas(data)
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgumentError("data must be a pandas or polars DataFrame or the path of a "
                                   "data file")  # fmt: skip
    if label not in data.columns:
        raise InvalidArgumentError(f"the data has no label column {label!r}")
    return data


def evaluate(model: Any, features: Any, y: Any, names: Sequence[str]) -> dict[str, float]:
    predicted = model.predict(features)
    probabilities = None
    if any(n in ("roc_auc", "log_loss") for n in names):
        probabilities = np.asarray(model.predict_proba(features))
    known = _metrics()
    return {name: known[name](y, predicted, probabilities) for name in names}


def decide(
    candidate: str,
    scores: Mapping[str, float],
    baseline: str | None,
    base_scores: Mapping[str, float] | None,
    rules: GatePolicy,
    interval: Interval | None = None,
) -> GateDecision:
    reasons = []
    for name, floor in rules.min.items():
        if scores[name] < floor:
            reasons.append(f"{name} {scores[name]:.4g} is below the floor {floor:.4g}")
    for name, ceiling in rules.max.items():
        if scores[name] > ceiling:
            reasons.append(f"{name} {scores[name]:.4g} is above the ceiling {ceiling:.4g}")
    delta = None
    if base_scores is not None:
        delta = scores[rules.metric] - base_scores[rules.metric]
        gain = -delta if rules.lower else delta
        direction = "lower" if rules.lower else "higher"
        if gain < rules.must_beat_by:
            reasons.append(
                f"{rules.metric} {scores[rules.metric]:.4g} vs baseline "
                f"{base_scores[rules.metric]:.4g}: must be {direction} by at least "
                f"{rules.must_beat_by:.4g}"
            )
        elif interval is not None and interval.low < rules.must_beat_by:
            reasons.append(
                f"{rules.metric} {scores[rules.metric]:.4g} vs baseline "
                f"{base_scores[rules.metric]:.4g} is not shown {direction} by at least "
                f"{rules.must_beat_by:.4g} ({interval.describe()})"
            )
    return GateDecision(
        passed=not reasons,
        metric=rules.metric,
        candidate=candidate,
        baseline=baseline,
        candidate_metrics=dict(scores),
        baseline_metrics=None if base_scores is None else dict(base_scores),
        delta=delta,
        reasons=tuple(reasons),
        interval=interval,
    )
