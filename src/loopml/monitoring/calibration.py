"""Drift thresholds calibrated on the reference itself.

A fixed distance threshold (0.1 for Wasserstein or Jensen-Shannon) ignores the window's size:
a healthy window of 100 rows of seasonal data lands further than 0.1 from its reference more
often than not. A calibrated threshold asks the reference how far a healthy window of the same
size lands: `draws` random samples of n rows are drawn from the reference (its exact values, or
its quantile sketch by inverse transform; categories by their shares), each is measured against
the full reference with the column's own test, and the (1 - alpha) quantile of those statistics
is the threshold, widened by (1 + n/m)^e for the reference's own sampling noise (m reference
values; e = 1/2 for the distances, 1 for PSI). P-value tests (KS, chi-square) are calibrated by
construction: their threshold is alpha itself. The dataset drifts when more columns drift than
chance explains (`min_drifted`).

The null statistics are kept per (reference digest, column, test, window step), where the step
is n rounded down to one of four sizes per doubling (a slightly stricter threshold for a few
more rows); with a folder they are also kept on disk, one JSON file per reference and step,
so a controller pass meeting the same reference and window size reads them back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
from pathlib import Path
from typing import Any, cast

import numpy as np

from loopml.core.datasets import ColumnProfile
from loopml.core.errors import InvalidArgumentError
from loopml.monitoring.drift import (
    DEFAULT_THRESHOLDS,
    P_VALUE_TESTS,
    categorical_statistic,
    numeric_statistic,
    reference_counts,
)

DEFAULT_ALPHA = 0.01
DATASET_ALPHA = 0.05  # the chance of a healthy window being called dataset drift, at most
DRAWS = 500
STEPS_PER_DOUBLING = 4
EXACT_BELOW = 32  # windows smaller than this are calibrated at their own size
METHOD = 1  # bumped when the method changes: part of the cache's file names
NOISE_EXPONENT = {"wasserstein": 0.5, "jensenshannon": 0.5, "psi": 1.0}


def check_alpha(alpha: object, where: str = "alpha") -> float:
    """`alpha` as a float in (0, 0.5), or an InvalidArgumentError naming `where`."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 0.5:
        raise InvalidArgumentError(f"{where} must be a number between 0 and 0.5, got {alpha!r}")
    return float(alpha)


def window_step(n: int) -> int:
    """`n` rounded down to one of STEPS_PER_DOUBLING sizes per doubling (exact below 32)."""
    if n < EXACT_BELOW:
        return max(n, 1)
    k = math.floor(math.log2(n) * STEPS_PER_DOUBLING + 1e-9)
    return min(n, math.floor(2 ** (k / STEPS_PER_DOUBLING) + 1e-9))


def min_drifted(columns: int, alpha: float, family: float = DATASET_ALPHA) -> int:
    """The fewest drifted columns that chance explains with probability at most `family` when
    each healthy column drifts with probability `alpha`: the smallest k >= 1 with
    P(Binomial(columns, alpha) >= k) <= family. At alpha 0.01: 1 of up to 5 columns, 2 of
    10 (a healthy window is called drifted in 0.4% of checks), 3 of 50, 4 of 100."""
    tail = 1.0  # P(X >= k)
    for k in range(columns + 1):
        if k >= 1 and tail <= max(family, alpha):
            return k
        tail -= _binomial_pmf(columns, k, alpha)
    return max(columns, 1)


def _binomial_pmf(n: int, k: int, p: float) -> float:
    log = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return math.exp(log + k * math.log(p) + (n - k) * math.log1p(-p))


# -- the null distribution -----------------------------------------------------------------
def null_statistics(
    profile: ColumnProfile, test: str, kind: str, n: int, draws: int, seed: int
) -> np.ndarray:
    """The statistic of `test` for `draws` samples of `n` values drawn from the reference
    `profile` itself, sorted (NaN dropped)."""
    rng = np.random.default_rng(seed)
    if kind == "numeric":
        stats = _numeric_null(profile, test, n, draws, rng)
    else:
        stats = _categorical_null(profile, test, n, draws, rng)
    stats = stats[~np.isnan(stats)]
    stats.sort()
    return stats


def _numeric_null(
    profile: ColumnProfile, test: str, n: int, draws: int, rng: np.random.Generator
) -> np.ndarray:
    if profile.values is not None:
        values = np.asarray(profile.values, dtype=np.float64)
        samples = rng.choice(values, size=(draws, n))
        profile = dataclasses.replace(profile, values=cast(Any, values))  # converted once
    elif profile.quantiles_sketch is not None:
        sketch = np.asarray(profile.quantiles_sketch, dtype=np.float64)
        samples = np.interp(rng.random((draws, n)), np.linspace(0, 1, len(sketch)), sketch)
    else:
        return np.empty(0)
    samples.sort(axis=1)
    return np.array([numeric_statistic(test, profile, row) for row in samples])


def _categorical_null(
    profile: ColumnProfile, test: str, n: int, draws: int, rng: np.random.Generator
) -> np.ndarray:
    reference = np.array(list(reference_counts(profile).values()), dtype=np.float64)
    if not reference.sum():
        return np.empty(0)
    samples = rng.multinomial(n, reference / reference.sum(), size=draws).astype(np.float64)
    return np.array([categorical_statistic(test, reference, row) for row in samples])


# -- thresholds, cached --------------------------------------------------------------------
class Calibrator:
    """Calibrated thresholds for one reference (named by `reference_key`, a digest of it),
    the null statistics kept in memory and, with `folder`, on disk. Thread-safe."""

    def __init__(
        self,
        reference_key: str,
        folder: Path | None = None,
        *,
        alpha: float = DEFAULT_ALPHA,
        draws: int = DRAWS,
    ) -> None:
        if not reference_key.isalnum():
            raise InvalidArgumentError(f"a reference key is a hex digest, got {reference_key!r}")
        if draws < 20:
            raise InvalidArgumentError(f"draws must be at least 20, got {draws}")
        self.alpha = check_alpha(alpha)
        self.computed = 0  # null distributions computed here (not read back): for tests
        self._key, self._folder, self._draws = reference_key, folder, draws
        self._tables: dict[int, dict[str, list[float]]] = {}
        self._dirty: set[int] = set()
        self._lock = threading.Lock()

    def threshold(self, profile: ColumnProfile, test: str, kind: str, n: int) -> float:
        """The threshold of `test` on `profile`'s column for a window of `n` values."""
        if test in P_VALUE_TESTS:
            return self.alpha
        if n <= 0 or not profile.count:
            return DEFAULT_THRESHOLDS[test]
        stats = self._null(profile, test, kind, window_step(n))
        if not len(stats):
            return DEFAULT_THRESHOLDS[test]
        base = float(np.quantile(stats, 1 - self.alpha))
        return base * (1 + n / profile.count) ** NOISE_EXPONENT.get(test, 0.5)

    def _null(self, profile: ColumnProfile, test: str, kind: str, step: int) -> np.ndarray:
        entry = f"{profile.name}\t{test}"
        with self._lock:
            found = self._table(step).get(entry)
        if found is not None:
            return np.asarray(found, dtype=np.float64)
        stats = null_statistics(profile, test, kind, step, self._draws, self._seed(entry, step))
        with self._lock:
            self._table(step)[entry] = [float(f"{s:.6g}") for s in stats]
            self._dirty.add(step)
            self.computed += 1
        return stats

    def _seed(self, entry: str, step: int) -> int:
        text = f"{self._key}|{entry}|{step}|{self._draws}".encode()
        return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")

    def _path(self, step: int) -> Path | None:
        if self._folder is None:
            return None
        return self._folder / f"m{METHOD}-{self._key[:40]}-n{step}-d{self._draws}.json"

    def _table(self, step: int) -> dict[str, list[float]]:
        """The null statistics for `step`, read from disk on first use (under the lock)."""
        if step not in self._tables:
            path = self._path(step)
            self._tables[step] = _read(path) if path is not None else {}
        return self._tables[step]

    def flush(self) -> None:
        """Write the null statistics computed since the last flush to the folder."""
        with self._lock:
            for step in sorted(self._dirty):
                path = self._path(step)
                if path is not None:
                    _write(path, self._tables[step])
            self._dirty.clear()


def _read(path: Path) -> dict[str, list[float]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):  # a damaged cache file is recomputed, never trusted
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, list)}


def _write(path: Path, table: dict[str, list[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{threading.get_ident()}.partial")
    partial.write_text(json.dumps(table, separators=(",", ":")))
    partial.replace(path)
