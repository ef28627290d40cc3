"""Compare current data with a reference profile: drift per column and data quality.

Columns run in threads (sorting and counting release the GIL). Whatever is wrong with the
current data (a missing column, a changed type, all nulls, an empty window) becomes a quality
finding; it never stops the comparison. `compare_parquet` checks a Parquet file too large for
memory a group of columns at a time, reading the next group while the current one is tested.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeGuard

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.datasets import ColumnProfile, ColumnType, Profile
from loopml.core.errors import InvalidArgumentError
from loopml.core.monitoring import ColumnDrift, QualityFinding
from loopml.data.profile import numeric_values
from loopml.data.schema import as_strings
from loopml.monitoring.drift import categorical_drift, finite, sorted_numeric_drift

NULL_TOLERANCE = 0.05  # a null share this much above the reference's is reported
NUMERIC = (ColumnType.INTEGER, ColumnType.FLOAT)
CATEGORICAL = (ColumnType.CATEGORY, ColumnType.STRING, ColumnType.BOOLEAN)


@dataclasses.dataclass(frozen=True)
class ColumnRule:
    test: str | None = None
    threshold: float | None = None


@dataclasses.dataclass(frozen=True)
class Comparison:
    columns: dict[str, ColumnDrift]
    quality: list[QualityFinding]


def compare(
    reference: Profile,
    current: pa.Table,
    *,
    columns: Sequence[str] | None = None,
    rules: Mapping[str, ColumnRule] | None = None,
) -> Comparison:
    names = list(columns) if columns is not None else [c.name for c in reference.columns]
    rules = rules or {}
    quality: list[QualityFinding] = []
    if current.num_rows == 0:
        quality.append(QualityFinding(None, "empty_window", "the current data has no rows"))
        return Comparison({}, quality)
    work = []
    for name in names:
        profile = reference.column(name)
        if not _testable(profile):
            continue
        if name not in current.column_names:
            quality.append(_missing(name))
            continue
        work.append((name, profile))
    workers = max(1, min(len(work), os.cpu_count() or 1, 8))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            pool.map(
                lambda item: _column(
                    item[1], current.column(item[0]), rules.get(item[0], ColumnRule())
                ),
                work,
            )
        )
    drifts = {}
    for drift, findings in results:
        quality.extend(findings)
        if drift is not None:
            drifts[drift.name] = drift
    return Comparison(drifts, quality)


def compare_parquet(
    reference: Profile,
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    rules: Mapping[str, ColumnRule] | None = None,
    columns_per_group: int = 50,
    memory_map: bool = True,
) -> Comparison:
    """`compare` over a Parquet file, reading `columns_per_group` columns at a time (memory
    holds about two groups: the one being tested and the next one being read).

    A local file is memory-mapped (about twice as fast to read as through buffered reads),
    and mapped afresh for each group, so that the pages already read leave the process."""
    import pyarrow.parquet as pq

    if columns_per_group < 1:
        raise InvalidArgumentError(f"columns_per_group must be >= 1, got {columns_per_group}")
    file = pq.ParquetFile(path)
    metadata = file.metadata

    def read(group: list[str]) -> pa.Table:
        mapped = pq.ParquetFile(path, memory_map=memory_map, metadata=metadata)
        try:
            return mapped.read(group)
        finally:
            mapped.close()

    names = list(columns) if columns is not None else [c.name for c in reference.columns]
    present = set(file.schema_arrow.names)
    quality = [_missing(n) for n in names if n not in present and _testable(reference.column(n))]
    names = [name for name in names if name in present]
    if metadata.num_rows == 0:
        quality.append(QualityFinding(None, "empty_window", "the current data has no rows"))
        return Comparison({}, quality)
    groups = [names[i : i + columns_per_group] for i in range(0, len(names), columns_per_group)]
    drifts: dict[str, ColumnDrift] = {}
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(read, groups[0]) if groups else None
        for index, group in enumerate(groups):
            assert pending is not None
            table = pending.result()
            if index + 1 < len(groups):
                pending = reader.submit(read, groups[index + 1])
            result = compare(reference, table, columns=group, rules=rules)
            del table
            drifts.update(result.columns)
            quality.extend(result.quality)
    return Comparison(drifts, quality)


def _testable(profile: ColumnProfile | None) -> TypeGuard[ColumnProfile]:
    return profile is not None and (profile.type in NUMERIC or profile.type in CATEGORICAL)


def _missing(name: str) -> QualityFinding:
    return QualityFinding(
        name, "missing_column", f"column {name!r} is missing from the current data"
    )


def _column(
    profile: ColumnProfile, column: pa.ChunkedArray, rule: ColumnRule
) -> tuple[ColumnDrift | None, list[QualityFinding]]:
    name, rows = profile.name, len(column)
    findings = _nulls(profile, column)
    if column.null_count == rows:
        findings.append(QualityFinding(name, "all_null", f"column {name!r} is entirely null", 1.0))
        return None, findings
    if profile.type in NUMERIC:
        if not _numeric_type(column.type):
            findings.append(_type_changed(name, "numeric", column.type))
            return None, findings
        values = numeric_values(column)
        if not values.flags.writeable:  # a view of Arrow's memory: sort a copy
            values = values.copy()
        values.sort()  # once, in place: the range check and every test use the order
        findings.extend(_out_of_range(profile, values, rows))
        return sorted_numeric_drift(name, profile, finite(values), test=rule.test,
                                    threshold=rule.threshold), findings  # fmt: skip
    if _numeric_type(column.type) and profile.type is ColumnType.STRING:
        findings.append(_type_changed(name, "string", column.type))
    counted = pc.value_counts(pc.drop_null(as_strings(column)))
    counts = dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(),
                      strict=True))  # fmt: skip
    return categorical_drift(name, profile, counts, test=rule.test,
                             threshold=rule.threshold), findings  # fmt: skip


def _numeric_type(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    return (
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
        or pa.types.is_null(data_type)
    )


def _type_changed(name: str, expected: str, found: pa.DataType) -> QualityFinding:
    return QualityFinding(
        name, "type_changed", f"column {name!r} was {expected} in the reference, now {found}"
    )


def _nulls(profile: ColumnProfile, column: pa.ChunkedArray) -> list[QualityFinding]:
    rows = len(column)
    share = column.null_count / rows if rows else 0.0
    reference = profile.nulls / max(1, profile.nulls + profile.count)
    if share > reference + NULL_TOLERANCE and share < 1.0:
        message = f"column {profile.name!r} is {share:.1%} null (reference {reference:.1%})"
        return [QualityFinding(profile.name, "nulls", message, share)]
    return []


def _out_of_range(profile: ColumnProfile, ordered: np.ndarray, rows: int) -> list[QualityFinding]:
    """Values outside the reference's [min, max]; `ordered` is sorted, without NaN."""
    if profile.min is None or profile.max is None or not len(ordered):
        return []
    below = int(np.searchsorted(ordered, profile.min, side="left"))
    outside = below + len(ordered) - int(np.searchsorted(ordered, profile.max, side="right"))
    if not outside:
        return []
    share = outside / rows
    message = (f"column {profile.name!r}: {share:.1%} of values outside the reference range "
               f"[{profile.min:.6g}, {profile.max:.6g}]")  # fmt: skip
    return [QualityFinding(profile.name, "out_of_range", message, share)]
