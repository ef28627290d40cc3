"""The numpy versions of Wasserstein and Jensen-Shannon (no SciPy import on a check's path)
equal SciPy's; infinities and NaN are dropped from sorted data; the range check counts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

from loopml.data.profile import profile_table
from loopml.monitoring.compare import compare
from loopml.monitoring.drift import finite, jensen_shannon, numeric_drift, wasserstein_sorted


@pytest.mark.parametrize("seed", range(5))
def test_wasserstein_and_jensen_shannon_equal_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    u = np.sort(rng.normal(0, 1, rng.integers(1, 3_000)))
    v = np.sort(np.round(rng.normal(0.3, 2, rng.integers(1, 3_000)), 1))  # ties
    assert wasserstein_sorted(u, v) == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-12)
    p = rng.integers(0, 50, 12).astype(float)
    q = rng.integers(0, 50, 12).astype(float)
    p[0], q[1] = 0, 0  # a category on one side only
    assert jensen_shannon(p, q) == pytest.approx(distance.jensenshannon(p, q), rel=1e-12)
    assert jensen_shannon(p, p) == 0.0


def test_non_finite_values_are_left_out_and_counted_out_of_range() -> None:
    ordered = np.sort(np.array([np.nan, 3.0, -np.inf, 1.0, np.inf, 2.0, np.inf]))
    assert finite(ordered).tolist() == [1.0, 2.0, 3.0]
    assert finite(np.empty(0)).tolist() == []
    rng = np.random.default_rng(0)
    reference = profile_table(pa.table({"x": rng.normal(0, 1, 2_000)}))
    current = np.concatenate([rng.normal(0, 1, 1_000), [np.inf, -np.inf, 50.0, np.nan]])
    plain = numeric_drift("x", reference.column("x"), current)
    assert plain.current_rows == 1_001 and not plain.drifted
    column = reference.column("x")
    outside = int(np.sum((current < column.min) | (current > column.max)))
    found = compare(reference, pa.table({"x": current})).quality
    ranges = [f for f in found if f.kind == "out_of_range"]
    assert len(ranges) == 1 and ranges[0].share == pytest.approx(outside / len(current))
