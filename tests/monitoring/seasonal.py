"""Generated data with the properties real traffic has: daily and weekly seasonality (sines of
the time), noise, counts with ties, a skewed price, and categories whose shares follow the
hour. Rows come at random times; the reference covers 8 full weeks, a window one full week."""

from __future__ import annotations

import numpy as np
import pandas as pd

WEEK = 7 * 24 * 60  # minutes
SHIFTED = ("temperature", "load", "humidity")  # 3 of the 10 columns, for a real shift


def frame(minutes: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    hour, day, n = (minutes / 60) % 24, (minutes / 1440) % 7, len(minutes)
    daily, weekly = np.sin(2 * np.pi * hour / 24), np.sin(2 * np.pi * day / 7)
    weekend = np.where(day >= 5, 0.6, 1.0)
    web = rng.random(n) < 0.3 + 0.2 * daily
    return pd.DataFrame({
        "temperature": 10 + 5 * daily + 2 * weekly + rng.normal(0, 1.5, n),
        "load": 100 + 30 * daily * weekend + rng.normal(0, 8, n),
        "humidity": 60 - 10 * daily + rng.normal(0, 5, n),
        "requests": rng.poisson(20 + 15 * (1 + daily) * weekend).astype(float),
        "price": np.exp(1 + 0.2 * weekly + rng.normal(0, 0.3, n)),
        "latency": 50 + 20 * np.maximum(daily, 0) + rng.gamma(2.0, 5.0, n),
        "clicks": rng.poisson(1 + (daily > 0.5)).astype(float),
        "hour": [f"h{int(h):02d}" for h in hour],
        "weekday": [f"d{int(d)}" for d in day],
        "channel": np.where(web, "web", np.where(rng.random(n) < 0.5, "app", "api")),
    })  # fmt: skip


def reference(rng: np.random.Generator) -> pd.DataFrame:
    """8 weeks, a row every 10 minutes (8,064 rows: numeric columns kept as sketches)."""
    return frame(np.arange(0, 8 * WEEK, 10.0), rng)


def window(n: int, week: int, rng: np.random.Generator) -> pd.DataFrame:
    """`n` rows at random times over one full week: healthy, the reference's distribution."""
    return frame(np.sort(rng.uniform(week * WEEK, (week + 1) * WEEK, n)), rng)


def shift(rows: pd.DataFrame, like: pd.DataFrame, sds: float = 0.5) -> pd.DataFrame:
    """`rows` with the SHIFTED columns' means moved by `sds` of `like`'s standard deviation."""
    return rows.assign(**{name: rows[name] + sds * like[name].std() for name in SHIFTED})
