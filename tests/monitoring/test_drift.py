"""Drift verdicts on synthetic data with known shifts agree with the ground truth and with
scipy's own tests on the same samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

from loopml.data.profile import profile_table
from loopml.monitoring.compare import ColumnRule, compare

RNG = np.random.default_rng(2)  # fixed: a 5% test flags a true null now and then


def _frames(n_ref: int, n_cur: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    def make(n: int, shifted: bool) -> pd.DataFrame:
        return pd.DataFrame({
            "same": RNG.normal(0, 1, n),
            "mean_shift": RNG.normal(1.0 if shifted else 0.0, 1, n),
            "variance": RNG.normal(0, 3.0 if shifted else 1.0, n),
            "same_cat": RNG.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "new_cat": RNG.choice(["a", "b", "z"] if shifted else ["a", "b", "c"], n,
                                  p=[0.4, 0.3, 0.3]),
        })  # fmt: skip

    return make(n_ref, False), make(n_cur, True)


TRUTH = {"same": False, "mean_shift": True, "variance": True, "same_cat": False, "new_cat": True}


# Chi-square (as Evidently runs it) treats the reference shares as exact, so a current window
# much larger than a small reference flags its sampling noise: keep the two comparable.
@pytest.mark.parametrize(("n_ref", "n_cur", "tests"), [
    (800, 800, {"numeric": "ks", "categorical": "chisquare"}),
    (20_000, 5_000, {"numeric": "wasserstein", "categorical": "jensenshannon"}),
])  # fmt: skip
def test_verdicts_match_the_truth_and_scipy(n_ref: int, n_cur: int, tests: dict) -> None:
    reference, current = _frames(n_ref, n_cur)
    report = compare(profile_table(pa.Table.from_pandas(reference)),
                     pa.Table.from_pandas(current))  # fmt: skip
    verdicts = {name: drift.drifted for name, drift in report.columns.items()}
    assert verdicts == TRUTH
    for name, drift in report.columns.items():
        assert drift.test == tests[drift.kind]
        expected = _scipy(drift.test, reference[name], current[name])
        assert drift.statistic == pytest.approx(expected, rel=0.02, abs=1e-3), name


def _scipy(test: str, ref: pd.Series, cur: pd.Series) -> float:
    if test == "ks":
        return stats.ks_2samp(ref, cur).pvalue
    if test == "wasserstein":
        return stats.wasserstein_distance(ref, cur) / np.std(ref)
    keys = sorted(set(ref) | set(cur))
    r = ref.value_counts().reindex(keys, fill_value=0).to_numpy(float)
    c = cur.value_counts().reindex(keys, fill_value=0).to_numpy(float)
    if test == "jensenshannon":
        return distance.jensenshannon(r / r.sum(), c / c.sum())
    expected = r * c.sum() / r.sum()
    if np.any((expected == 0) & (c > 0)):
        return 0.0
    return stats.chisquare(c[expected > 0], expected[expected > 0]).pvalue


def test_rules_choose_test_and_threshold_per_column() -> None:
    reference, current = _frames(20_000, 5_000)
    rules = {"mean_shift": ColumnRule("psi", 10.0), "same": ColumnRule("ks")}
    report = compare(profile_table(pa.Table.from_pandas(reference)),
                     pa.Table.from_pandas(current), rules=rules)  # fmt: skip
    shifted = report.columns["mean_shift"]
    assert shifted.test == "psi" and shifted.threshold == 10.0 and not shifted.drifted
    assert report.columns["same"].test == "ks" and not report.columns["same"].drifted


def test_bad_current_data_becomes_quality_findings() -> None:
    reference = pd.DataFrame({"x": RNG.normal(0, 1, 500), "y": RNG.normal(0, 1, 500),
                              "z": RNG.normal(0, 1, 500), "w": RNG.normal(0, 1, 500)})  # fmt: skip
    current = pa.table({
        "x": pa.array(["a", "b"] * 50),  # type changed
        "y": pa.array([None] * 100, pa.float64()),  # all null
        "w": pa.array([100.0] * 50 + [None] * 50),  # half null, out of range
    })  # fmt: skip
    report = compare(profile_table(pa.Table.from_pandas(reference)), current)
    kinds = {(f.column, f.kind) for f in report.quality}
    assert kinds >= {("x", "type_changed"), ("y", "all_null"), ("z", "missing_column"),
                     ("w", "nulls"), ("w", "out_of_range")}  # fmt: skip
    assert set(report.columns) == {"w"}
    empty = compare(profile_table(pa.Table.from_pandas(reference)), current.slice(0, 0))
    assert [f.kind for f in empty.quality] == ["empty_window"] and not empty.columns
