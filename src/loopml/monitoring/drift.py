"""Drift tests between a reference distribution and current data, one column at a time.

The reference is a stored profile (exact sorted values when the data was small, otherwise a
1,001-point quantile sketch; category counts), so it is never recomputed. The current side is
the raw column. Tests and defaults follow Evidently's, so verdicts are comparable:

  numeric      reference <= 1,000 rows: two-sample Kolmogorov-Smirnov (drift if p < 0.05)
               otherwise: Wasserstein distance / reference std (drift if >= 0.1)
  categorical  reference <= 1,000 rows: chi-square (drift if p < 0.05)
               otherwise: Jensen-Shannon distance (drift if >= 0.1)
  either       PSI on request (drift if >= 0.1)

With exact reference values, KS is scipy's own computation and Wasserstein scipy's formula
(in numpy); against a sketch they integrate the quantile functions on a fine grid. SciPy is
imported only for the p-value tests (KS, chi-square): a check with large references never
pays for importing it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from loopml.core.datasets import ColumnProfile
from loopml.core.errors import InvalidArgumentError
from loopml.core.monitoring import ColumnDrift

SMALL_REFERENCE = 1_000
GRID = 4_096
PSI_BINS = 10
NUMERIC_TESTS = ("ks", "wasserstein", "psi", "jensenshannon")
CATEGORICAL_TESTS = ("chisquare", "jensenshannon", "psi")
DEFAULT_THRESHOLDS = {
    "ks": 0.05, "chisquare": 0.05, "wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.1,
}  # fmt: skip
P_VALUE_TESTS = ("ks", "chisquare")


def choose_test(kind: str, reference_rows: int) -> str:
    small = reference_rows <= SMALL_REFERENCE
    if kind == "numeric":
        return "ks" if small else "wasserstein"
    return "chisquare" if small else "jensenshannon"


def is_drift(test: str, statistic: float, threshold: float) -> bool:
    if math.isnan(statistic):
        return False
    return statistic < threshold if test in P_VALUE_TESTS else statistic >= threshold


# -- numeric ------------------------------------------------------------------------------
def numeric_drift(
    name: str,
    reference: ColumnProfile,
    current: np.ndarray,
    *,
    test: str | None = None,
    threshold: float | None = None,
) -> ColumnDrift:
    """`current`: the column's non-null values as float64 (any order)."""
    values = np.array(current, dtype=np.float64)  # our own copy, sorted in place
    values.sort()
    return sorted_numeric_drift(name, reference, finite(values), test=test, threshold=threshold)


def sorted_numeric_drift(
    name: str,
    reference: ColumnProfile,
    current: np.ndarray,
    *,
    test: str | None = None,
    threshold: float | None = None,
) -> ColumnDrift:
    """`numeric_drift` for values already sorted and finite (see `finite`)."""
    test = test or choose_test("numeric", reference.count)
    if test not in NUMERIC_TESTS:
        raise InvalidArgumentError(f"column {name!r}: {test!r} is not a numeric test")
    threshold = DEFAULT_THRESHOLDS[test] if threshold is None else threshold
    statistic = numeric_statistic(test, reference, current)
    return ColumnDrift(name, test, statistic, threshold, is_drift(test, statistic, threshold),
                       "numeric", reference.count, len(current))  # fmt: skip


def finite(ordered: np.ndarray) -> np.ndarray:
    """The finite part of a sorted array (a view): infinities sit at the ends, NaN last."""
    start = int(np.searchsorted(ordered, -np.inf, side="right"))
    end = int(np.searchsorted(ordered, np.inf, side="left"))
    return ordered[start:end]


def _ks(reference: ColumnProfile, current: np.ndarray) -> float:
    """The p-value of the two-sample KS test."""
    from scipy import stats

    if not len(current) or not reference.count:
        return float("nan")
    if reference.values is not None:
        return float(stats.ks_2samp(np.asarray(reference.values), current).pvalue)
    sketch = np.asarray(reference.quantiles_sketch)
    points = np.linspace(0, 1, len(sketch))
    ref_cdf = np.interp(current, sketch, points)  # piecewise-linear reference CDF
    n = len(current)
    steps = np.arange(1, n + 1) / n
    distance = float(max(np.max(np.abs(ref_cdf - steps)), np.max(np.abs(ref_cdf - steps + 1 / n))))
    m = reference.count
    effective = math.sqrt(n * m / (n + m))
    return float(stats.kstwobign.sf(distance * effective))


def _quantiles(reference: ColumnProfile, u: np.ndarray) -> np.ndarray:
    if reference.values is not None:
        return np.quantile(np.asarray(reference.values), u, method="inverted_cdf")
    sketch = np.asarray(reference.quantiles_sketch)
    return np.interp(u, np.linspace(0, 1, len(sketch)), sketch)


def _wasserstein(reference: ColumnProfile, current: np.ndarray) -> float:
    """Wasserstein-1 distance normalised by the reference's standard deviation (ddof=0)."""
    if not len(current) or not reference.count:
        return float("nan")
    std = _population_std(reference)
    if reference.values is not None:
        distance = wasserstein_sorted(np.sort(np.asarray(reference.values, np.float64)), current)
    else:
        u = (np.arange(GRID) + 0.5) / GRID
        ref_q = _quantiles(reference, u)
        cur_q = current[np.minimum((u * len(current)).astype(np.intp), len(current) - 1)]
        distance = float(np.mean(np.abs(ref_q - cur_q)))
    if not std:
        return 0.0 if distance == 0 else float("inf")
    return float(distance / std)


def wasserstein_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """Wasserstein-1 distance between two samples, both sorted: the area between their
    empirical CDFs, computed as scipy.stats.wasserstein_distance does."""
    merged = np.concatenate((u, v))
    merged.sort()
    deltas = np.diff(merged)
    u_cdf = np.searchsorted(u, merged[:-1], side="right") / len(u)
    v_cdf = np.searchsorted(v, merged[:-1], side="right") / len(v)
    return float(np.sum(np.abs(u_cdf - v_cdf) * deltas))


def _population_std(reference: ColumnProfile) -> float:
    if reference.values is not None:
        return float(np.std(np.asarray(reference.values)))
    if reference.std is None or reference.count < 2:
        return 0.0
    return reference.std * math.sqrt((reference.count - 1) / reference.count)


def _numeric_bins(reference: ColumnProfile, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current shares over equal-width bins spanning both ranges."""
    low = min(reference.min if reference.min is not None else np.inf, current[0])
    high = max(reference.max if reference.max is not None else -np.inf, current[-1])
    edges = np.linspace(low, high if high > low else low + 1, PSI_BINS + 1)
    if reference.values is not None:
        ref_counts = np.histogram(np.asarray(reference.values), edges)[0]
        ref_shares = ref_counts / max(1, ref_counts.sum())
    else:
        sketch = np.asarray(reference.quantiles_sketch)
        cdf = np.interp(edges, sketch, np.linspace(0, 1, len(sketch)), left=0.0, right=1.0)
        ref_shares = np.diff(cdf)
    cur_shares = np.histogram(current, edges)[0] / len(current)
    return ref_shares, cur_shares


def _psi_numeric(reference: ColumnProfile, current: np.ndarray) -> float:
    if not len(current) or not reference.count:
        return float("nan")
    return psi(*_numeric_bins(reference, current))


def _js_numeric(reference: ColumnProfile, current: np.ndarray) -> float:
    if not len(current) or not reference.count:
        return float("nan")
    return jensen_shannon(*_numeric_bins(reference, current))


_NUMERIC = {"ks": _ks, "wasserstein": _wasserstein, "psi": _psi_numeric,
            "jensenshannon": _js_numeric}  # fmt: skip


def numeric_statistic(test: str, reference: ColumnProfile, current: np.ndarray) -> float:
    """The statistic of numeric `test` for sorted, finite `current` values."""
    return _NUMERIC[test](reference, current)


# -- categorical --------------------------------------------------------------------------
def categorical_drift(
    name: str,
    reference: ColumnProfile,
    current: Mapping[str, int],
    *,
    test: str | None = None,
    threshold: float | None = None,
) -> ColumnDrift:
    """`current`: category -> count of the column's non-null values."""
    test = test or choose_test("categorical", reference.count)
    if test not in CATEGORICAL_TESTS:
        raise InvalidArgumentError(f"column {name!r}: {test!r} is not a categorical test")
    threshold = DEFAULT_THRESHOLDS[test] if threshold is None else threshold
    ref_counts = reference_counts(reference)
    keys = sorted(set(ref_counts) | set(current))
    ref = np.array([ref_counts.get(k, 0) for k in keys], dtype=np.float64)
    cur = np.array([current.get(k, 0) for k in keys], dtype=np.float64)
    statistic = categorical_statistic(test, ref, cur)
    return ColumnDrift(name, test, statistic, threshold, is_drift(test, statistic, threshold),
                       "categorical", int(ref.sum()), int(cur.sum()))  # fmt: skip


def reference_counts(reference: ColumnProfile) -> dict[str, int]:
    """Category -> count in the reference, the categories beyond the cap as one."""
    counts = dict(reference.counts or {})
    if reference.other:
        counts["\0other"] = reference.other
    return counts


def categorical_statistic(test: str, ref: np.ndarray, cur: np.ndarray) -> float:
    """The statistic of categorical `test` for counts aligned on the same categories."""
    if not ref.sum() or not cur.sum():
        return float("nan")
    if test == "chisquare":
        return _chisquare(ref, cur)
    if test == "jensenshannon":
        return jensen_shannon(ref / ref.sum(), cur / cur.sum())
    return psi(ref / ref.sum(), cur / cur.sum())


def _chisquare(ref: np.ndarray, cur: np.ndarray) -> float:
    """Chi-square goodness of fit of the current counts to the reference shares (p-value).
    A category the reference never saw is drift outright (its expected count is zero)."""
    from scipy import stats

    expected = ref * (cur.sum() / ref.sum())
    if np.any((expected == 0) & (cur > 0)):
        return 0.0
    keep = expected > 0
    return float(stats.chisquare(cur[keep], expected[keep]).pvalue)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log), as scipy.spatial.distance.jensenshannon."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0)
        right = np.where(q > 0, q * np.log(q / m), 0.0)
    return float(np.sqrt(max(0.0, float(left.sum() + right.sum())) / 2))


def psi(reference: np.ndarray, current: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index; empty bins count as `floor` (as Evidently does)."""
    r = np.where(reference == 0, floor, reference)
    c = np.where(current == 0, floor, current)
    return float(np.sum((r - c) * np.log(r / c)))
