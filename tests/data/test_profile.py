from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loopml.core.datasets import (
    ColumnProfile,
    ColumnSchema,
    ColumnType,
    Profile,
    Schema,
    profile_from_json,
    profile_to_json,
)
from loopml.data.profile import QUANTILES, profile_table

QS = list(QUANTILES.values())


def only(profile: Profile, name: str) -> ColumnProfile:
    found = profile.column(name)
    assert found is not None
    return found


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two ECDFs."""
    a, b = np.sort(a), np.sort(b)
    points = np.concatenate([a, b])
    gaps = np.searchsorted(a, points, side="right") / len(a) - np.searchsorted(
        b, points, side="right"
    ) / len(b)
    return float(np.max(np.abs(gaps)))


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 5000])
def test_numeric_statistics_match_numpy_and_pandas(n: int) -> None:
    rng = np.random.default_rng(n)
    data = rng.lognormal(size=n)
    p = only(profile_table(pa.table({"x": data})), "x")
    assert (p.type, p.count, p.nulls) == (ColumnType.FLOAT, n, 0)
    assert p.min == data.min() and p.max == data.max()
    assert p.mean == pytest.approx(data.mean(), rel=1e-12)
    expected_std = pd.Series(data).std()  # sample std, ddof=1
    assert p.std == (None if n == 1 else pytest.approx(expected_std, rel=1e-10))
    assert p.quantiles is not None
    assert list(p.quantiles) == ["p1", "p5", "p25", "p50", "p75", "p95", "p99"]
    np.testing.assert_allclose(list(p.quantiles.values()), np.quantile(data, QS), rtol=1e-12)
    assert p.histogram is not None
    counts, edges = np.histogram(data, bins=50)
    assert p.histogram.counts == tuple(counts.tolist())
    np.testing.assert_allclose(p.histogram.edges, edges, rtol=1e-12)
    assert sum(p.histogram.counts) == p.count
    assert p.values == tuple(np.sort(data).tolist()) and p.quantiles_sketch is None


def test_exact_values_allow_an_exact_ks_test() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=3000)
    p = only(profile_table(pa.table({"x": reference})), "x")
    assert p.values is not None
    stored = np.array(p.values)
    assert np.array_equal(stored, np.sort(reference))  # the sample itself, bit for bit
    live = rng.normal(0.2, size=800)
    assert ks_statistic(stored, live) == ks_statistic(reference, live)


def test_large_columns_keep_a_quantile_sketch() -> None:
    rng = np.random.default_rng(2)
    data = rng.exponential(size=20_000)
    p = only(profile_table(pa.table({"x": data}), exact_values_limit=5000), "x")
    assert p.values is None and p.quantiles_sketch is not None
    assert len(p.quantiles_sketch) == 1001
    expected = np.quantile(data, np.linspace(0, 1, 1001))
    np.testing.assert_allclose(p.quantiles_sketch, expected, rtol=1e-12)
    assert p.quantiles_sketch[0] == data.min() and p.quantiles_sketch[-1] == data.max()
    assert list(p.quantiles_sketch) == sorted(p.quantiles_sketch)
    assert p.histogram is not None and sum(p.histogram.counts) == 20_000


def test_exact_values_limit_is_inclusive() -> None:
    table = pa.table({"x": np.arange(100.0)})
    assert only(profile_table(table, exact_values_limit=100), "x").values is not None
    assert only(profile_table(table, exact_values_limit=99), "x").values is None


def test_integers_nulls_and_nan() -> None:
    table = pa.table(
        {
            "i": pa.array([3, None, 1, 2, None], pa.int16()),
            "f": [1.0, float("nan"), None, 4.0, 2.0],
        }
    )
    profile = profile_table(table)
    assert profile.rows == 5
    i, f = only(profile, "i"), only(profile, "f")
    assert (i.type, i.count, i.nulls, i.values, i.mean) == (ColumnType.INTEGER, 3, 2, (1, 2, 3), 2)
    assert (f.count, f.nulls, f.values, f.min, f.max) == (3, 2, (1.0, 2.0, 4.0), 1.0, 4.0)
    assert f.std == pytest.approx(pd.Series([1.0, 4.0, 2.0]).std())


def test_chunked_columns_profile_like_one_chunk() -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(size=900)
    data[::7] = np.nan
    parts = np.array_split(data, 4)
    chunked = pa.table({"x": pa.chunked_array([pa.array(p, from_pandas=True) for p in parts])})
    assert chunked.column("x").num_chunks == 4
    assert profile_table(chunked) == profile_table(pa.table({"x": data}))


def test_constant_column() -> None:
    p = only(profile_table(pa.table({"x": [7.0] * 10})), "x")
    assert (p.min, p.max, p.mean, p.std) == (7.0, 7.0, 7.0, 0.0)
    assert p.histogram is not None
    counts, edges = np.histogram(np.full(10, 7.0), bins=50)  # numpy's range: 7 +- 0.5
    assert p.histogram.counts == tuple(counts.tolist())
    assert p.histogram.edges == tuple(edges.tolist())


def test_all_null_columns() -> None:
    table = pa.table(
        {
            "nan": [float("nan")] * 4,
            "none": pa.nulls(4, pa.int64()),
            "untyped": pa.nulls(4),
            "s": pa.nulls(4, pa.string()),
        }
    )
    profile = profile_table(table)
    nan = only(profile, "nan")
    assert (nan.count, nan.nulls, nan.min, nan.mean, nan.histogram, nan.values) == (
        0,
        4,
        None,
        None,
        None,
        (),
    )
    assert (only(profile, "none").count, only(profile, "none").nulls) == (0, 4)
    untyped = only(profile, "untyped")
    assert (untyped.type, untyped.count, untyped.nulls) == (ColumnType.OTHER, 0, 4)
    s = only(profile, "s")
    assert (s.count, s.nulls, s.distinct, s.counts, s.top) == (0, 4, 0, {}, ())


def test_infinite_values_do_not_break_the_profile() -> None:
    p = only(profile_table(pa.table({"x": [-math.inf, 1.0, 2.0, 3.0, math.inf]})), "x")
    assert (p.min, p.max, p.count) == (-math.inf, math.inf, 5)
    assert p.mean is None and p.std is None
    assert p.histogram is not None
    assert sum(p.histogram.counts) == 5 and p.histogram.edges[0] == 1.0
    assert p.histogram.counts[0] == 2 and p.histogram.counts[-1] == 2
    assert p.quantiles is not None and p.quantiles["p50"] == 2.0
    assert p.quantiles["p1"] == -math.inf and p.quantiles["p99"] == math.inf
    sketch = only(profile_table(pa.table({"x": [1.0, 2.0, math.inf]}), exact_values_limit=1), "x")
    assert sketch.quantiles_sketch is not None
    assert sketch.quantiles_sketch[0] == 1.0 and sketch.quantiles_sketch[500] == 2.0
    assert sketch.quantiles_sketch[-1] == math.inf
    assert not any(math.isnan(q) for q in sketch.quantiles_sketch)


def test_categorical_counts_are_exact() -> None:
    rng = np.random.default_rng(4)
    values = rng.choice(["red", "green", "blue", "teal"], size=2000, p=[0.5, 0.3, 0.15, 0.05])
    data = [None if i % 50 == 0 else str(v) for i, v in enumerate(values)]
    p = only(profile_table(pa.table({"c": data})), "c")
    expected = Counter(v for v in data if v is not None)
    assert p.type is ColumnType.CATEGORY
    assert (p.count, p.nulls, p.distinct, p.other) == (1960, 40, 4, 0)
    assert p.counts == dict(expected)
    assert p.top == tuple(sorted(expected.items(), key=lambda kv: (-kv[1], kv[0])))


def test_category_cap_sums_the_rest_into_other() -> None:
    data = ["a"] * 5 + ["b"] * 5 + ["c"] * 3 + ["d"] * 2 + ["e"]
    p = only(profile_table(pa.table({"c": data}), category_cap=3), "c")
    assert p.counts == {"a": 5, "b": 5, "c": 3}
    assert (p.other, p.distinct, p.count) == (3, 5, 16)
    assert p.top == (("a", 5), ("b", 5), ("c", 3), ("d", 2), ("e", 1))  # top is not capped


def test_top_holds_twenty_sorted_by_count_then_value() -> None:
    data = [f"id{i:03d}" for i in range(100)] + ["id050"] * 3 + ["id099"] * 3
    p = only(profile_table(pa.table({"s": data})), "s")
    assert p.type is ColumnType.STRING and p.distinct == 100
    assert len(p.top) == 20
    assert p.top[:3] == (("id050", 4), ("id099", 4), ("id000", 1))
    assert sum(p.counts.values()) == 106 if p.counts else False


def test_booleans_datetimes_and_other_types() -> None:
    table = pa.table(
        {
            "b": [True, False, True, None],
            "t": pa.array(
                [
                    dt.datetime(2024, 1, 1, 12),
                    None,
                    dt.datetime(2023, 6, 1),
                    dt.datetime(2025, 1, 1),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "d": pa.array([dt.date(1970, 1, 2), dt.date(1970, 1, 11), None, None], pa.date32()),
            "l": [[1], None, [2, 3], []],
        }
    )
    profile = profile_table(table)
    b = only(profile, "b")
    assert (b.type, b.counts, b.nulls, b.distinct) == (
        ColumnType.BOOLEAN,
        {"true": 2, "false": 1},
        1,
        2,
    )
    t = only(profile, "t")
    assert t.type is ColumnType.DATETIME and (t.count, t.nulls) == (3, 1)
    assert t.min == dt.datetime(2023, 6, 1, tzinfo=dt.UTC).timestamp()
    assert t.max == dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp()
    d = only(profile, "d")
    assert (d.min, d.max) == (86400.0, 10 * 86400.0)
    other = only(profile, "l")
    assert (other.type, other.count, other.nulls) == (ColumnType.OTHER, 3, 1)


def test_schema_decides_how_columns_are_treated() -> None:
    table = pa.table(
        {"s": ["x", "y", "z"], "i": [1, 2, 3], "code": [10, 20, 10], "f": ["a", "b", "c"]}
    )
    schema = Schema(
        (
            ColumnSchema("s", ColumnType.CATEGORY, categories=("x", "y", "z")),
            ColumnSchema("i", ColumnType.FLOAT),
            ColumnSchema("code", ColumnType.CATEGORY),
            ColumnSchema("f", ColumnType.FLOAT),  # the data does not fit: inferred instead
        )
    )
    profile = profile_table(table, schema)
    assert only(profile, "s").type is ColumnType.CATEGORY
    assert only(profile, "i").type is ColumnType.FLOAT and only(profile, "i").mean == 2.0
    assert only(profile, "code").counts == {"10": 2, "20": 1}
    assert only(profile, "f").type is ColumnType.STRING
    assert only(profile_table(table), "s").type is ColumnType.STRING


def test_empty_and_wide_tables() -> None:
    empty = profile_table(
        pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    )
    assert empty.rows == 0 and [c.count for c in empty.columns] == [0, 0]
    assert profile_table(pa.table({})) == Profile(0, ())
    wide = pa.table({f"c{i}": np.arange(10.0) + i for i in range(40)})
    profile = profile_table(wide)
    assert [c.name for c in profile.columns] == wide.column_names  # order kept across threads
    assert [c.min for c in profile.columns] == [float(i) for i in range(40)]


def test_profile_survives_json() -> None:
    rng = np.random.default_rng(5)
    table = pa.table(
        {
            "x": rng.normal(size=6000),
            "small": rng.normal(size=6000).round(1)[:6000],
            "c": rng.choice(["a", "b"], size=6000),
            "t": pa.array([dt.datetime(2024, 1, 1)] * 6000, pa.timestamp("s")),
        }
    )
    profile = profile_table(table, exact_values_limit=10_000)
    assert profile_from_json(profile_to_json(profile)) == profile
