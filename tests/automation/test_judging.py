"""The canary is judged with confidence: a noisy first look waits instead of rolling back a
better model, a clearly worse canary is rolled back, an undecided one follows on_timeout, and
the looks together keep the error rate they promise."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from loopml.automation import judging
from loopml.core.entities import FrozenDict
from loopml.core.policies import CanarySpec
from loopml.core.serving import Prediction, RouteMode
from loopml.registry import confidence

START = datetime(2026, 1, 1, tzinfo=UTC)
CANARY, PRIMARY = "clf/2", "clf/1"


def _predictions(mode: RouteMode, correct: list[bool], offset: int = 0) -> list[Prediction]:
    """Binary predictions, each labelled a second apart, right or wrong as told."""
    uri = CANARY if mode is RouteMode.CANARY else PRIMARY
    out = []
    for i, ok in enumerate(correct):
        label = i % 2
        when = START + timedelta(seconds=offset + i)
        out.append(Prediction(uuid.uuid4().hex, "api", "clf", int(uri[-1]), mode, when,
                              FrozenDict(), label if ok else 1 - label, 1.0, label=label,
                              labeled_time=when))  # fmt: skip
    return out


def _correct(rate: float, n: int, seed: int) -> list[bool]:
    return list(np.random.default_rng(seed).random(n) < rate)


def _verdict(spec: CanarySpec, canary: list[bool], primary: list[bool]):
    predictions = [*_predictions(RouteMode.CANARY, canary),
                   *_predictions(RouteMode.PRIMARY, primary)]  # fmt: skip
    interval = judging._look(spec, predictions, CANARY, PRIMARY)
    return interval, judging._confident(spec, interval)


SPEC = CanarySpec(min_labels=30, metric="accuracy", max_metric_drop=0.02)


def test_a_better_canary_behind_by_chance_at_first_is_not_rolled_back() -> None:
    unlucky = [True] * 21 + [False] * 9  # 0.70 on its first 30 labels; the primary: 0.75
    primary = _correct(0.75, 120, seed=1)
    interval, verdict = _verdict(SPEC, unlucky, primary)
    assert verdict is None and interval.low < -0.02 < interval.high  # wait for more labels
    later = unlucky + _correct(0.88, 450, seed=2)  # its real rate shows with more labels
    interval, verdict = _verdict(SPEC, later, _correct(0.75, 1500, seed=3))
    assert verdict is not None and verdict[0] == "promote", interval
    assert interval.confidence > 0.95  # later looks spend less of the error


def test_a_clearly_worse_canary_is_rolled_back_with_its_interval() -> None:
    interval, verdict = _verdict(SPEC, _correct(0.45, 60, seed=4), _correct(0.9, 300, seed=5))
    assert verdict is not None and verdict[0] == "rollback"
    assert interval.high < -0.02 and "surely worse" in verdict[1]


def test_every_look_uses_a_fixed_set_of_labels() -> None:
    """Between looks (60 to 119 canary labels) the verdict is the same as at 60."""
    primary = _correct(0.8, 600, seed=6)
    canary = _correct(0.8, 119, seed=7)
    first, _ = _verdict(SPEC, canary[:60], primary)
    for n in (61, 90, 119):
        assert _verdict(SPEC, canary[:n], primary)[0] == first


def test_the_looks_keep_the_error_rate() -> None:
    """Two equal models, 150 canaries, a pass every 60 labels up to 480: wrong verdicts
    (either way) stay near the promised 5% (bootstrap intervals run a little short on 30
    labels; the bound leaves room for that and for the sampling noise of 150 trials), where a
    95% interval checked at every pass makes far more. (Passes between looks repeat the look
    before: test_every_look_uses_a_fixed_set_of_labels.)"""
    strict = CanarySpec(min_labels=30, metric="accuracy", max_metric_drop=0.0)
    scheduled = peeking = 0
    trials = 150
    for trial in range(trials):
        rng = np.random.default_rng(1000 + trial)
        mine, theirs = rng.random(480) < 0.8, rng.random(1920) < 0.8
        for n in (30, 60, 120, 240, 480):
            _, verdict = _verdict(strict, list(mine[:n]), list(theirs[: 4 * n]))
            if verdict is not None:
                scheduled += 1
                break
        for n in range(60, 481, 60):
            a = confidence.Sample(np.ones(n), mine[:n].astype(float))
            b = confidence.Sample(np.ones(4 * n), theirs[: 4 * n].astype(float))
            interval = confidence.unpaired("accuracy", a, b, 0.95)
            if interval.low > 0 or interval.high < 0:
                peeking += 1
                break
    assert scheduled / trials <= 0.08, scheduled
    assert peeking > 2 * scheduled, (peeking, scheduled)


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_ranking_metrics_use_the_served_probabilities(metric: str) -> None:
    rng = np.random.default_rng(8)

    def predictions(mode: RouteMode, noise: float, n: int) -> list[Prediction]:
        out = []
        for i in range(n):
            label = int(rng.integers(0, 2))
            p = float(np.clip(0.5 + (label - 0.5) * 0.6 + rng.normal(0, noise), 0.01, 0.99))
            when = START + timedelta(seconds=i)
            out.append(Prediction(uuid.uuid4().hex, "api", "clf", 2 if mode is RouteMode.CANARY
                                  else 1, mode, when, FrozenDict(), int(p > 0.5), 1.0,
                                  label=label, labeled_time=when,
                                  probabilities=FrozenDict({"0": 1 - p, "1": p})))  # fmt: skip
        return out

    spec = CanarySpec(min_labels=30, metric=metric, max_metric_drop=0.0)
    served = [*predictions(RouteMode.CANARY, 0.1, 240), *predictions(RouteMode.PRIMARY, 0.6, 960)]
    interval = judging._look(spec, served, CANARY, PRIMARY)
    assert interval is not None and interval.low > 0  # the canary ranks better, with confidence
    assert judging._confident(spec, interval)[0] == "promote"
