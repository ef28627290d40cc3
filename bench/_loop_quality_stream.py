"""The loop-quality benchmark's data: a seeded binary-classification stream with a seasonal
covariate cycle, an abrupt concept change at row `change`, label noise, and held-out truth.

Row `t` (an integer; negative rows are the history the first model learns from) is one
simulated second. Everything a row holds is a function of (seed, t's chunk), so a shorter
stream (`--quick`) is a prefix of the longer one and two runs with one seed are identical.

    x0, x1   numeric, with a daily cycle: mean shifted by AMPLITUDE * sin/cos(2 pi t / period)
             (the class prior follows it through x0's and x1's weights)
    x2, x3   numeric, N(0, 1)
    x4..x7   numeric, N(0, 1) before the change; mean +SHIFT after it
    c0       categorical a/b/c/d; its shares reverse at the change
    c1       categorical day/evening/night; its shares follow the daily cycle
    label    Bernoulli(sigmoid(logit)), then flipped with probability `noise`

The concept: logit = BIAS + W . x + U[c0]. At the change the signs of the weights of x4 and
x5 and of c0's effects flip, so a model trained before it ranks rows close to chance (AUC
about 0.53); x0, x1 and x6 keep their weights (the seasonal part of the concept does not
change).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

NUMERIC = [f"x{i}" for i in range(8)]
CATEGORICAL = ["c0", "c1"]
FEATURES = [*NUMERIC, "c0", "c1"]
SEASONAL = ["x0", "x1", "c1"]  # the columns that follow the daily cycle
LABEL = "label"
CHUNK = 250  # rows generated together from one seed; a stream is a sequence of chunks
HISTORY_KEY, HELDOUT_KEY, ORACLE_KEY = 1, 2, 3

AMPLITUDE = 0.8  # the daily cycle's mean shift of x0 and x1, in standard deviations
SHIFT = 0.6  # the mean shift of x4..x7 at the change
BIAS = -0.3
WEIGHTS_BEFORE = np.array([1.0, 0.7, 0.0, 0.0, 1.1, -0.9, 0.8, 0.0])
WEIGHTS_AFTER = np.array([1.0, 0.7, 0.0, 0.0, -1.1, 0.9, 0.8, 0.0])
C0 = np.array(["a", "b", "c", "d"])
C0_SHARES_BEFORE = np.array([0.4, 0.3, 0.2, 0.1])
C0_SHARES_AFTER = C0_SHARES_BEFORE[::-1].copy()
C0_EFFECT_BEFORE = np.array([0.0, 0.6, -0.6, 0.3])
C0_EFFECT_AFTER = -C0_EFFECT_BEFORE
C1 = np.array(["day", "evening", "night"])


@dataclasses.dataclass(frozen=True)
class Stream:
    seed: int = 0
    change: int = 15_000  # the first row of the new concept
    period: int = 200  # rows per daily cycle (shorter than a block)
    noise: float = 0.07  # share of labels flipped

    def rows(self, start: int, stop: int) -> pd.DataFrame:
        """Rows start..stop-1 of the stream (features, label, and `row`), in order."""
        first, last = start // CHUNK, -(-stop // CHUNK)
        parts = [self._chunk(i) for i in range(first, last)]
        frame = pd.concat(parts, ignore_index=True)
        frame = frame[(frame["row"] >= start) & (frame["row"] < stop)]
        return frame.reset_index(drop=True)

    def _chunk(self, index: int) -> pd.DataFrame:
        rng = np.random.default_rng([self.seed, index + 1_000_000])
        t = np.arange(index * CHUNK, (index + 1) * CHUNK, dtype=np.int64)
        return self.sample(t, rng)

    def heldout(self, start: int, stop: int, n: int, key: int) -> pd.DataFrame:
        """`n` fresh rows at times drawn uniformly in [start, stop): the truth of that stretch."""
        rng = np.random.default_rng([self.seed, HELDOUT_KEY, key])
        t = rng.uniform(start, stop, n)
        return self.sample(t, rng)

    def regime_sample(self, n: int, *, after: bool, key: int = 0) -> pd.DataFrame:
        """`n` rows of one concept at uniformly random phases of the cycle (an oracle's data)."""
        rng = np.random.default_rng([self.seed, ORACLE_KEY, int(after), key])
        span = 50 * self.period
        t = (self.change if after else self.change - span) + rng.uniform(0, span, n)
        return self.sample(t, rng)

    def sample(self, t: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        n = len(t)
        after = t >= self.change
        phase = 2 * math.pi * np.asarray(t, dtype=float) / self.period
        x = rng.normal(0.0, 1.0, (n, 8))
        x[:, 0] += AMPLITUDE * np.sin(phase)
        x[:, 1] += AMPLITUDE * np.cos(phase)
        x[:, 4:8] += np.where(after, SHIFT, 0.0)[:, None]
        u = rng.random(n)
        c0_before = np.searchsorted(np.cumsum(C0_SHARES_BEFORE), u, side="right")
        c0_after = np.searchsorted(np.cumsum(C0_SHARES_AFTER), u, side="right")
        c0 = np.minimum(np.where(after, c0_after, c0_before), 3)
        night = 0.25 + 0.2 * np.sin(phase)  # the daily cycle of the channel shares
        day = 0.45 - 0.2 * np.sin(phase)
        v = rng.random(n)
        c1 = np.where(v < day, 0, np.where(v < day + night, 2, 1))
        weights = np.where(after[:, None], WEIGHTS_AFTER, WEIGHTS_BEFORE)
        effect = np.where(after, C0_EFFECT_AFTER[c0], C0_EFFECT_BEFORE[c0])
        logit = BIAS + (weights * x).sum(axis=1) + effect
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
        flip = rng.random(n) < self.noise
        y = np.where(flip, 1 - y, y)
        frame = pd.DataFrame({name: x[:, i].round(4) for i, name in enumerate(NUMERIC)})
        frame["c0"] = C0[c0]
        frame["c1"] = C1[c1]
        frame[LABEL] = y
        frame["row"] = np.floor(np.asarray(t, dtype=float)).astype(np.int64)
        return frame


def make_model(seed: int = 0) -> Any:
    """The model family every version (and each oracle) is: scaled numerics + one-hot
    categoricals into a logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer([
        ("numeric", StandardScaler(), NUMERIC),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    ])  # fmt: skip
    return make_pipeline(columns, LogisticRegression(C=1.0, max_iter=500, random_state=seed))


def auc(labels: Any, scores: Any) -> float:
    """ROC AUC by ranks (ties averaged); nan when one class is missing."""
    from scipy.stats import rankdata

    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))
