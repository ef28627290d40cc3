"""Check a table against a Schema and report the anomalies, each with a severity and a count."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.core.datasets import (
    Anomaly,
    ColumnSchema,
    ColumnType,
    Schema,
    Severity,
    ValidationReport,
)
from loopml.data.profile import numeric_values
from loopml.data.schema import arrow_kind, as_strings, null_count

UNSEEN_SHOWN = 5

# The data types a declared type accepts without loss. An integer column may arrive as floats
# holding whole numbers only: pandas turns integers with missing values into floats.
_ACCEPTS = {
    ColumnType.INTEGER: (ColumnType.INTEGER,),
    ColumnType.FLOAT: (ColumnType.INTEGER, ColumnType.FLOAT),
    ColumnType.BOOLEAN: (ColumnType.BOOLEAN,),
    ColumnType.STRING: (ColumnType.STRING,),
    ColumnType.CATEGORY: (ColumnType.STRING, ColumnType.INTEGER, ColumnType.BOOLEAN),
    ColumnType.DATETIME: (ColumnType.DATETIME,),
    ColumnType.OTHER: (ColumnType.OTHER,),
}


def validate_table(
    table: pa.Table,
    schema: Schema,
    *,
    dataset: str,
    version: int | None,
    unseen_severity: Severity = Severity.WARNING,
) -> ValidationReport:
    """Anomalies of `table` against `schema`; the counts of column-wide anomalies (missing,
    unexpected, changed type) are the table's rows."""
    rows = table.num_rows
    anomalies: list[Anomaly] = []
    if rows == 0:
        anomalies.append(Anomaly(None, "empty", Severity.ERROR, 0, "the table has no rows"))
    index = {name: i for i, name in enumerate(table.column_names)}
    for expected in schema.columns:
        if expected.name in index:
            column = table.column(index[expected.name])
            anomalies.extend(_check_column(expected, column, unseen_severity))
        else:
            message = f"column {expected.name!r} is missing ({expected.type.value} in the schema)"
            anomalies.append(
                Anomaly(expected.name, "missing_column", Severity.ERROR, rows, message)
            )
    declared = set(schema.names)
    for name in table.column_names:
        if name not in declared:
            message = f"column {name!r} is not in the schema"
            anomalies.append(Anomaly(name, "unexpected_column", Severity.WARNING, rows, message))
    return ValidationReport(dataset, version, rows, tuple(anomalies))


def _check_column(
    expected: ColumnSchema, column: pa.ChunkedArray, unseen_severity: Severity
) -> list[Anomaly]:
    found: list[Anomaly | None] = []
    fits = _fits(expected.type, column)
    if not fits:
        message = (
            f"column {expected.name!r}: the schema says {expected.type.value}, "
            f"the data is {column.type}"
        )
        found.append(Anomaly(expected.name, "type_changed", Severity.ERROR, len(column), message))
    found.append(_nulls(expected, column))
    if fits and expected.type.is_numeric:
        found.append(_out_of_range(expected, column))
    if fits and expected.type is ColumnType.CATEGORY and expected.categories is not None:
        found.append(_unseen(expected, column, unseen_severity))
    return [a for a in found if a is not None]


def _fits(declared: ColumnType, column: pa.ChunkedArray) -> bool:
    kind = arrow_kind(column.type)
    if kind is None or kind in _ACCEPTS[declared]:
        return True
    if declared is ColumnType.INTEGER and kind is ColumnType.FLOAT:
        values = numeric_values(column)
        return bool(np.array_equal(values, np.floor(values)))
    return False


def _nulls(expected: ColumnSchema, column: pa.ChunkedArray) -> Anomaly | None:
    nulls = null_count(column)
    if expected.nullable or nulls == 0:
        return None
    message = (
        f"column {expected.name!r}: {nulls} of {len(column)} rows are null "
        "but the schema says it is not nullable"
    )
    return Anomaly(expected.name, "nulls", Severity.ERROR, nulls, message)


def _out_of_range(expected: ColumnSchema, column: pa.ChunkedArray) -> Anomaly | None:
    if expected.min is None and expected.max is None:
        return None
    low = expected.min if expected.min is not None else -math.inf
    high = expected.max if expected.max is not None else math.inf
    slack = expected.range_tolerance * (high - low) if math.isfinite(high - low) else 0.0
    values = numeric_values(column)
    outside = values[(values < low - slack) | (values > high + slack)]
    if len(outside) == 0:
        return None
    message = (
        f"column {expected.name!r}: {len(outside)} values outside the range [{low:g}, {high:g}]"
        f" widened by {expected.range_tolerance:g} of its width to "
        f"[{low - slack:g}, {high + slack:g}]; found values from {outside.min():g} "
        f"to {outside.max():g}"
    )
    return Anomaly(expected.name, "out_of_range", Severity.WARNING, len(outside), message)


def _unseen(expected: ColumnSchema, column: pa.ChunkedArray, severity: Severity) -> Anomaly | None:
    counted = pc.value_counts(as_strings(column))
    values, counts = counted.field("values"), counted.field("counts")
    known = pa.array(expected.categories or (), type=values.type)
    unseen = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=known)))
    table = pa.table({"value": values, "count": counts}).filter(unseen)
    if table.num_rows == 0:
        return None
    table = table.sort_by([("count", "descending"), ("value", "ascending")])
    rows = pc.sum(table["count"]).as_py()
    shown = ", ".join(repr(v) for v in table["value"].slice(0, UNSEEN_SHOWN).to_pylist())
    more = f" and {table.num_rows - UNSEEN_SHOWN} more" if table.num_rows > UNSEEN_SHOWN else ""
    message = (
        f"column {expected.name!r}: {rows} rows hold {table.num_rows} values not among the "
        f"{len(expected.categories or ())} known categories: {shown}{more}"
    )
    return Anomaly(expected.name, "unseen_category", severity, rows, message)
