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
