"""The two judgements of a cycle: the gate (offline, the candidate against the champion on the
same held-out data) and the canary (online, the canary against the primary on the same window
of live traffic: labelled metric, error rate, p99 latency)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from loopml.core.errors import InvalidArgumentError
from loopml.core.policies import LOWER_IS_BETTER, PROMOTE, ROLLBACK, CanarySpec, GateSpec, Policy
from loopml.core.serving import Prediction, RouteMode
from loopml.registry import confidence
from loopml.registry.confidence import Interval
from loopml.workspace import Workspace

MAX_WINDOW = 200_000
LATENCY_NOISE_MS = 1.0
MIN_LOOK = 20  # labels per route before an interval means anything


def gate_data(ws: Workspace, gate: GateSpec, pipeline_run: Any) -> Any:
    """The evaluation frame: a dataset version, or an output of the training pipeline run."""
    from loopml.data import api as datasets

    if gate.dataset is not None:
        return datasets.load(gate.dataset, gate.version, workspace=ws)
    if gate.output is not None:
        step, _, output = gate.output.partition(".")
        return pipeline_run.load(step, output or None)
    raise InvalidArgumentError("the policy's gate has no data: set gate.data in loopml.yaml")


def gate(
    ws: Workspace, policy: Policy, candidate: str, baseline: str | None, data: Any
) -> dict[str, Any]:
    """The registry's comparison under the policy's rules, as plain numbers and reasons."""
    from loopml.registry.gate import compare

    spec = policy.gate
    decision = compare(
        candidate, baseline, data=data, label=spec.label, workspace=ws,
        policy={"metric": spec.metric, "must_beat_by": spec.must_beat_by,
                "min": dict(spec.min), "max": dict(spec.max), "confidence": spec.confidence},
    )  # fmt: skip
    return {
        "passed": decision.passed,
        "metric": decision.metric,
        "candidate": dict(decision.candidate_metrics),
        "baseline": None if decision.baseline_metrics is None else dict(decision.baseline_metrics),
        "delta": decision.delta,
        "interval": None if decision.interval is None else decision.interval.to_json(),
        "reasons": list(decision.reasons),
    }


@dataclasses.dataclass(frozen=True)
class RouteStats:
    requests: int
    labels: int
    metric: float | None
    error_rate: float
    p99_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CanaryVerdict:
    action: str | None  # promote | rollback | None (keep waiting)
    reasons: tuple[str, ...]
    canary: RouteStats
    primary: RouteStats
    timed_out: bool = False
    interval: Interval | None = None  # the canary's advantage on the metric, at this look

    def summary(self, metric: str) -> str:
        """The numbers side by side, for the timeline."""
        c, p = self.canary, self.primary

        def number(value: float | None, pattern: str) -> str:
            return "n/a" if value is None else format(value, pattern)

        interval = f" ({self.interval.describe()})" if self.interval else ""
        return (f"{metric} {number(c.metric, '.3f')} vs primary {number(p.metric, '.3f')} "
                f"on {c.labels} and {p.labels} labels{interval}; errors {c.error_rate:.1%} vs "
                f"{p.error_rate:.1%}; p99 {number(c.p99_ms, '.1f')} ms vs "
                f"{number(p.p99_ms, '.1f')} ms")  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reasons": list(self.reasons),
            "canary": self.canary.to_json(),
            "primary": self.primary.to_json(),
            "timed_out": self.timed_out,
            "interval": None if self.interval is None else self.interval.to_json(),
        }


def judge_canary(
    ws: Workspace, policy: Policy, candidate: str, since: datetime, now: datetime
) -> CanaryVerdict:
    """Compare the canary with the primary on the same window since the canary started."""
    spec = policy.canary or CanarySpec()
    deployment = ws.store.deployments.get(policy.deployment)
    predictions = ws.store.predictions.query(
        deployment=policy.deployment, since=since, limit=MAX_WINDOW, newest=True
    )
    model, _, version = candidate.rpartition("/")
    canary = _stats(ws, policy, spec, predictions, RouteMode.CANARY, model, int(version), since)
    primary_route = deployment.primary
    primary = _stats(ws, policy, spec, predictions, RouteMode.PRIMARY, primary_route.model,
                     primary_route.version, since)  # fmt: skip
    if deployment.canary is None or deployment.canary.uri != candidate:
        # The verdict was carried out by a controller that died before saving it: keep what was
        # done (judging again would compare the candidate with a primary that has moved on).
        if primary_route.uri == candidate:
            return CanaryVerdict(PROMOTE, ("the candidate already serves as primary",), canary,
                                 primary)  # fmt: skip
        return CanaryVerdict(ROLLBACK, ("the canary route is gone",), canary, primary)
    waited = (now - since).total_seconds()
    if canary.requests < spec.min_requests or canary.labels < spec.min_labels:
        short = (f"the canary has {canary.requests}/{spec.min_requests} requests and "
                 f"{canary.labels}/{spec.min_labels} labels")  # fmt: skip
        if waited < spec.max_duration:
            return CanaryVerdict(None, (short,), canary, primary)
        reason = f"{short} after {waited:.0f}s (max_duration {spec.max_duration:.0f}s)"
        return CanaryVerdict(spec.on_timeout, (reason,), canary, primary, timed_out=True)
    guardrails = _guardrails(spec, canary, primary)
    if guardrails:
        return CanaryVerdict(ROLLBACK, tuple(guardrails), canary, primary)
    if spec.confidence <= 0:  # the point estimates decide
        problems = _metric_drop(spec, canary, primary)
        action = ROLLBACK if problems else PROMOTE
        return CanaryVerdict(action, tuple(problems) or ("the canary held up",), canary, primary)
    interval = _look(spec, predictions, candidate, primary_route.uri)
    verdict = _confident(spec, interval)
    if verdict is not None:
        return CanaryVerdict(verdict[0], (verdict[1],), canary, primary, interval=interval)
    why = f"inconclusive so far: {interval.describe() if interval else 'no interval yet'}"
    if waited < spec.max_duration:
        return CanaryVerdict(None, (why,), canary, primary, interval=interval)
    reason = f"{why} after {waited:.0f}s (max_duration {spec.max_duration:.0f}s)"
    return CanaryVerdict(spec.on_timeout, (reason,), canary, primary, timed_out=True,
                         interval=interval)  # fmt: skip


def _confident(spec: CanarySpec, interval: Interval | None) -> tuple[str, str] | None:
    """Roll back when the canary is worse than the allowed drop with confidence; promote when
    it is no worse than that with confidence; None while the interval straddles the margin."""
    if interval is None:
        return None
    margin = -spec.max_metric_drop
    if interval.high < margin:
        return ROLLBACK, f"the canary is surely worse than the allowed drop {-margin:g}"
    if interval.low > margin:
        return PROMOTE, f"the canary is surely no worse than the allowed drop {-margin:g}"
    return None


def _look(
    spec: CanarySpec, predictions: Sequence[Prediction], candidate: str, primary: str
) -> Interval | None:
    """The interval at the current look. Looks happen when the canary's labels reach
    min_labels x 1, 2, 4, ...; look k spends (1 - confidence) / 2^(k+1) of the error, so all
    looks together stay within it (a union bound: peeking at every pass would not). Each look
    uses the first labels to arrive, a fixed set, so passes between looks repeat it."""
    mine = _labelled(predictions, RouteMode.CANARY, candidate)
    base = max(spec.min_labels, MIN_LOOK)
    if len(mine) < base:
        return None
    look = int(math.log2(len(mine) / base))
    used = mine[: base * 2**look]
    cutoff = used[-1].labeled_time
    theirs = [p for p in _labelled(predictions, RouteMode.PRIMARY, primary)
              if p.labeled_time <= cutoff]  # fmt: skip
    if len(theirs) < MIN_LOOK:
        return None
    level = 1 - (1 - spec.confidence) / 2 ** (look + 1)
    try:
        return confidence.unpaired(spec.metric, _sample(used), _sample(theirs), level)
    except ValueError:  # a metric this sample cannot give (no probabilities for roc_auc)
        return None


def _labelled(predictions: Sequence[Prediction], mode: RouteMode, uri: str) -> list[Prediction]:
    model, _, version = uri.rpartition("/")
    mine = [p for p in predictions if p.route is mode and p.model == model
            and p.version == int(version) and p.labeled_time is not None]  # fmt: skip
    return sorted(mine, key=lambda p: (p.labeled_time, p.id))


def _sample(predictions: Sequence[Prediction]) -> confidence.Sample:
    return confidence.sample_of([p.label for p in predictions], [p.output for p in predictions],
                                [p.probabilities for p in predictions])  # fmt: skip


def _stats(
    ws: Workspace,
    policy: Policy,
    spec: CanarySpec,
    predictions: Sequence[Prediction],
    mode: RouteMode,
    model: str,
    version: int,
    since: datetime,
) -> RouteStats:
    from loopml.monitoring.performance import performance

    mine = [p for p in predictions if p.route is mode and p.model == model and p.version == version]
    labelled = [p for p in mine if p.label is not None]
    metric = None
    if labelled:
        scores = performance([p.output for p in labelled], [p.label for p in labelled],
                             probabilities=[p.probabilities for p in labelled])  # fmt: skip
        metric = scores.metrics.get(spec.metric)
    failures = ws.store.predictions.failure_count(
        policy.deployment, model=model, version=version, since=since
    )
    answered = len(mine)
    latencies = [p.latency_ms for p in mine]
    return RouteStats(
        requests=answered,
        labels=len(labelled),
        metric=None if metric is None else float(metric),
        error_rate=failures / (answered + failures) if answered + failures else 0.0,
        p99_ms=float(np.percentile(latencies, 99)) if latencies else None,
    )


def _metric_drop(spec: CanarySpec, canary: RouteStats, primary: RouteStats) -> list[str]:
    problems = []
    if canary.metric is None:
        problems.append(f"no {spec.metric} for the canary on its labels")
    elif primary.metric is not None:
        lower = spec.metric in LOWER_IS_BETTER
        drop = (canary.metric - primary.metric) if lower else (primary.metric - canary.metric)
        if drop > spec.max_metric_drop:
            problems.append(
                f"{spec.metric} {canary.metric:.4g} vs primary {primary.metric:.4g} "
                f"(worse by {drop:.4g}, allowed {spec.max_metric_drop:g})"
            )
    return problems


def _guardrails(spec: CanarySpec, canary: RouteStats, primary: RouteStats) -> list[str]:
    """Errors and latency: judged on every request, labelled or not."""
    problems = []
    increase = canary.error_rate - primary.error_rate
    if increase > spec.max_error_rate_increase:
        problems.append(
            f"error rate {canary.error_rate:.2%} vs primary {primary.error_rate:.2%} "
            f"(allowed +{spec.max_error_rate_increase:.2%})"
        )
    if canary.p99_ms is not None and primary.p99_ms:
        ratio = canary.p99_ms / primary.p99_ms
        # Below a millisecond apart, a ratio of two tiny latencies is noise, not a regression.
        if ratio > spec.max_latency_ratio and canary.p99_ms - primary.p99_ms > LATENCY_NOISE_MS:
            problems.append(
                f"p99 latency {canary.p99_ms:.1f} ms vs primary {primary.p99_ms:.1f} ms "
                f"({ratio:.1f}x, allowed {spec.max_latency_ratio:g}x)"
            )
    return problems
