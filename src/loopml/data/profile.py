"""Statistics profile of a table: the reference that drift tests compare live data against.

Each numeric column is sorted once; quantiles, histogram, exact values or the quantile sketch
all come from the sorted array. Columns are profiled in threads (numpy and pyarrow release the
GIL while they sort and count).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.datasets import ColumnProfile, ColumnType, Histogram, Profile, Schema
from loopml.data.schema import arrow_kind, as_strings, infer_column

QUANTILES = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
HISTOGRAM_BINS = 50
SKETCH_POINTS = 1001  # quantiles 0, 0.001, ..., 1
TOP = 20
_SECONDS_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def profile_table(
    table: pa.Table,
    schema: Schema | None = None,
    *,
    exact_values_limit: int = 5000,
    category_cap: int = 1000,
) -> Profile:
    """Profile every column. The schema, when given, decides how a column is treated (a string
    column pinned as category, an integer column declared float); columns it does not describe,
    or whose data does not fit the declared type, are inferred."""

    def profile(index: int) -> ColumnProfile:
        name, column = table.column_names[index], table.column(index)
        kind = _column_type(name, column, schema)
        if kind.is_numeric:
            return _numeric(name, kind, column, exact_values_limit)
        if kind in (ColumnType.CATEGORY, ColumnType.STRING, ColumnType.BOOLEAN):
            return _categorical(name, kind, column, category_cap)
        if kind is ColumnType.DATETIME:
            return _datetime(name, column)
        return ColumnProfile(name, kind, len(column) - column.null_count, column.null_count)

    workers = max(1, min(table.num_columns, os.cpu_count() or 1, 8))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        columns = tuple(pool.map(profile, range(table.num_columns)))
    return Profile(table.num_rows, columns)


def _column_type(name: str, column: pa.ChunkedArray, schema: Schema | None) -> ColumnType:
    kind = arrow_kind(column.type)
    declared = schema.column(name) if schema is not None else None
    if declared is not None and (kind is None or declared.type in _FITS[kind]):
        return declared.type
    if kind is ColumnType.STRING:
        return infer_column(name, column).type
    return kind or ColumnType.OTHER


_FITS = {
    ColumnType.INTEGER: (ColumnType.INTEGER, ColumnType.FLOAT, ColumnType.CATEGORY),
    ColumnType.FLOAT: (ColumnType.FLOAT,),
    ColumnType.BOOLEAN: (ColumnType.BOOLEAN, ColumnType.CATEGORY),
    ColumnType.STRING: (ColumnType.STRING, ColumnType.CATEGORY),
    ColumnType.DATETIME: (ColumnType.DATETIME,),
    ColumnType.OTHER: (ColumnType.OTHER,),
}


def numeric_values(column: pa.ChunkedArray) -> np.ndarray:
    """The non-null values as float64, NaN dropped (NaN counts as null)."""
    if pa.types.is_null(column.type) or len(column) == column.null_count:
        return np.empty(0)
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if column.null_count:
        column = pc.drop_null(column)
    if pa.types.is_decimal(column.type):
        column = pc.cast(column, pa.float64())
    values = np.asarray(column.to_numpy(), dtype=np.float64)
    if pa.types.is_floating(column.type):
        nan = np.isnan(values)
        if nan.any():
            values = values[~nan]
    return values


def sorted_quantiles(values: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """np.quantile's default (linear) method on already sorted values, without re-sorting."""
    position = qs * (len(values) - 1)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, len(values) - 1)
    t = position - below
    a, b = values[below], values[above]
    with np.errstate(invalid="ignore"):
        diff = b - a
        # numpy's _lerp: interpolate from the nearer end, so the result is exact at both ends
        result = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    result = np.where(t == 0, a, result)
    nan = np.isnan(result)  # only next to an infinity: take the limit, the infinite end
    if nan.any():
        result[nan] = np.where(np.isinf(a) & (~np.isinf(b) | (t < 0.5)), a, b)[nan]
    return result


def _numeric(
    name: str, kind: ColumnType, column: pa.ChunkedArray, exact_values_limit: int
) -> ColumnProfile:
    values = np.sort(numeric_values(column))
    count = len(values)
    nulls = len(column) - count
    if count == 0:
        return ColumnProfile(name, kind, 0, nulls, values=())
    with np.errstate(invalid="ignore", over="ignore"):  # infinities give inf or NaN
        mean = float(values.mean())
        deviations = values - mean
        # sample standard deviation (ddof=1), as pandas computes it; None for a single value
        std = float(np.sqrt(deviations @ deviations / (count - 1))) if count > 1 else None
    quantiles = sorted_quantiles(values, np.array(list(QUANTILES.values())))
    exact = count <= exact_values_limit
    return ColumnProfile(
        name,
        kind,
        count,
        nulls,
        min=float(values[0]),
        max=float(values[-1]),
        # infinite values make mean and std meaningless: left out rather than stored as NaN
        mean=mean if math.isfinite(mean) else None,
        std=std if std is not None and math.isfinite(std) else None,
        quantiles=dict(zip(QUANTILES, quantiles.tolist(), strict=True)),
        histogram=_histogram(values),
        values=tuple(values.tolist()) if exact else None,
        quantiles_sketch=None
        if exact
        else tuple(sorted_quantiles(values, np.linspace(0, 1, SKETCH_POINTS)).tolist()),
    )


def _histogram(values: np.ndarray) -> Histogram | None:
    """Equal-width bins over the finite range, binned as np.histogram does (each bin holds its
    left edge, the last also its right edge; a constant column gets the range v +- 0.5).
    Infinite values land in the first or last bin."""
    start = int(np.searchsorted(values, -np.inf, side="right"))
    end = int(np.searchsorted(values, np.inf, side="left"))
    if start >= end:
        return None
    low, high = float(values[start]), float(values[end - 1])
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    below = np.searchsorted(values, edges[1:-1], side="left")
    counts = np.diff(np.concatenate(([0], below, [len(values)])))
    return Histogram(tuple(edges.tolist()), tuple(counts.tolist()))


def _categorical(
    name: str, kind: ColumnType, column: pa.ChunkedArray, category_cap: int
) -> ColumnProfile:
    nulls = column.null_count
    counted = pc.value_counts(as_strings(column))
    table = pa.table({"value": counted.field("values"), "count": counted.field("counts")})
    table = table.filter(pc.is_valid(table["value"]))
    table = table.sort_by([("count", "descending"), ("value", "ascending")])
    head = table.slice(0, max(category_cap, TOP))
    pairs = list(zip(head["value"].to_pylist(), head["count"].to_pylist(), strict=True))
    counts = dict(pairs[:category_cap])
    count = len(column) - nulls
    return ColumnProfile(
        name,
        kind,
        count,
        nulls,
        distinct=table.num_rows,
        counts=counts,
        other=count - sum(counts.values()),
        top=tuple(pairs[:TOP]),
    )


def _datetime(name: str, column: pa.ChunkedArray) -> ColumnProfile:
    nulls = column.null_count
    low, high = _epoch_seconds_range(column)
    return ColumnProfile(name, ColumnType.DATETIME, len(column) - nulls, nulls, min=low, max=high)


def _epoch_seconds_range(column: pa.ChunkedArray) -> tuple[float | None, float | None]:
    data_type = column.type
    if pa.types.is_timestamp(data_type):
        scale = _SECONDS_PER_UNIT[data_type.unit]
        column = pc.cast(column, pa.int64())
    elif pa.types.is_date32(data_type):
        scale = 86400.0
        column = pc.cast(column, pa.int32())
    else:  # date64: milliseconds
        scale = 1e-3
        column = pc.cast(column, pa.int64())
    result = pc.min_max(column)
    low, high = result["min"].as_py(), result["max"].as_py()
    if low is None or high is None:
        return None, None
    return low * scale, high * scale
