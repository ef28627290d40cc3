"""The data both sides of bench/tracking.py log: the same values for loopml and MLflow.

Standard library only: it is imported by tracking.py (project venv) and by
_mlflow_tracking.py (peers venv).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

PROJECT = "bench"
N_METRICS = 10
N_PARAMS = 5
SEARCH_FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"
SEARCH_ORDER = "metrics.m1 DESC"
SEARCH_LIMIT = 100


def run_name(index: int) -> str:
    return f"run-{index}"


def run_values(index: int) -> tuple[dict[str, str], dict[str, float]]:
    """Params p0..p4 and metrics m0..m9 of run `index` (deterministic).

    p0 is one of a/b/c/d and m0 is uniform in [0, 1), so the search filter matches about
    one run in eight.
    """
    rng = random.Random(index)
    params = {"p0": rng.choice("abcd")}
    params.update({f"p{j}": f"v{rng.randrange(1000)}" for j in range(1, N_PARAMS)})
    metrics = {f"m{j}": rng.random() for j in range(N_METRICS)}
    return params, metrics


def metric_series(count: int) -> list[float]:
    rng = random.Random(0)
    return [rng.random() for _ in range(count)]


def batch_keys(size: int) -> list[str]:
    return [f"k{j}" for j in range(size)]


def timed_repeats(action: Callable[[], object], repeats: int) -> dict[str, float | object]:
    """Run `action` 1 + `repeats` times: the first (cold) time, the median, min and max of the
    rest, and the first call's result."""
    start = time.perf_counter()
    result = action()
    first = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        warm.append(time.perf_counter() - start)
    warm = warm or [first]
    return {
        "first_s": first,
        "median_s": statistics.median(warm),
        "min_s": min(warm),
        "max_s": max(warm),
        "result": result,
    }
