"""Models with behaviour the serving tests need (importable by the server)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd


class Slow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(self.seconds)
        return np.ones(len(frame))


class Broken:
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("secret internal detail")


class Constant:
    def __init__(self, value: int) -> None:
        self.value = value

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full(len(frame), self.value)


class Sleepy:
    """Sleeps as long as its input's largest `seconds` (at most 10), then answers 1s."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        time.sleep(min(10.0, float(frame["seconds"].max())))
        return np.ones(len(frame))


class NonFinite:
    """Answers NaN, +inf, -inf and 1.0 in turn: no JSON number can say the first three."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        values = np.array([np.nan, np.inf, -np.inf, 1.0])
        return values[np.arange(len(frame)) % 4]


class NonFiniteClassifier:
    """A classifier whose probabilities for the first row are NaN."""

    classes_ = np.array([0, 1])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame), dtype=int)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        proba = np.tile([0.25, 0.75], (len(frame), 1))
        proba[0] = np.nan
        return proba


class Objects:
    """Answers Python objects that no JSON can hold."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        answers = np.empty(len(frame), dtype=object)
        answers[:] = [object() for _ in range(len(frame))]
        return answers
