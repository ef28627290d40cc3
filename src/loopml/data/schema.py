"""Infer a Schema from a table, and its editable YAML form."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from loopml.core.datasets import ColumnSchema, ColumnType, Schema
from loopml.core.errors import InvalidArgumentError

DEFAULT_TOLERANCE = ColumnSchema("", ColumnType.OTHER).range_tolerance

_YAML_HEADER = """\
# loopml dataset schema. Edit to pin or loosen the rules, then pass this file to validation:
#   type: integer | float | boolean | string | category | datetime | other
#   nullable: true lets the column hold nulls (NaN counts as null)
#   min / max (numeric): the expected range; values beyond it by more than
#     range_tolerance * (max - min) are reported as out of range
#   categories (category): the allowed values; others are reported as unseen
# Remove a column to stop checking it (it is then reported as unexpected), or a key to drop a rule.
"""


def arrow_kind(data_type: pa.DataType) -> ColumnType | None:
    """The ColumnType of an arrow type, with STRING for every string column (the category split
    needs the data); None for the null type, which holds no values and so fits any type."""
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    checks = (
        (pa.types.is_null, None),
        (pa.types.is_boolean, ColumnType.BOOLEAN),
        (pa.types.is_integer, ColumnType.INTEGER),
        (pa.types.is_floating, ColumnType.FLOAT),
        (pa.types.is_decimal, ColumnType.FLOAT),
        (pa.types.is_timestamp, ColumnType.DATETIME),
        (pa.types.is_date, ColumnType.DATETIME),
        (pa.types.is_string, ColumnType.STRING),
        (pa.types.is_large_string, ColumnType.STRING),
        (pa.types.is_string_view, ColumnType.STRING),
    )
    return next((kind for check, kind in checks if check(data_type)), ColumnType.OTHER)


def as_strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column's values as category keys: strings as they are, dictionaries decoded, other
    types by pyarrow's cast (booleans become "true"/"false"). Profiles and validation both
    key categories this way."""
    data_type = column.type
    if pa.types.is_dictionary(data_type):
        column = pc.cast(column, data_type.value_type)
        data_type = data_type.value_type
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return column
    return pc.cast(column, pa.string())


def null_count(column: pa.ChunkedArray) -> int:
    """Nulls, with NaN counted as null in float columns (pandas writes missing values as NaN)."""
    nulls = column.null_count
    if pa.types.is_floating(column.type):
        nulls += pc.sum(pc.is_nan(column)).as_py() or 0
    return nulls


def numeric_range(column: pa.ChunkedArray) -> tuple[float | None, float | None]:
    """Observed min and max, skipping nulls and NaN; (None, None) when there is no value."""
    result = pc.min_max(column)
    low, high = result["min"].as_py(), result["max"].as_py()
    if low is None or high is None or math.isnan(float(low)):
        return None, None
    return float(low), float(high)


def infer_schema(table: pa.Table, max_categories: int = 50) -> Schema:
    return Schema(
        tuple(
            infer_column(name, table.column(i), max_categories)
            for i, name in enumerate(table.column_names)
        )
    )


def infer_column(name: str, column: pa.ChunkedArray, max_categories: int = 50) -> ColumnSchema:
    kind = arrow_kind(column.type)
    nullable = null_count(column) > 0
    if kind is None:
        return ColumnSchema(name, ColumnType.OTHER, nullable=True)
    if kind.is_numeric:
        low, high = numeric_range(column)
        return ColumnSchema(name, kind, nullable, min=low, max=high)
    if kind is ColumnType.STRING:
        categories = _domain(column, max_categories)
        if categories is not None:
            return ColumnSchema(name, ColumnType.CATEGORY, nullable, categories=categories)
    return ColumnSchema(name, kind, nullable)


def _domain(column: pa.ChunkedArray, max_categories: int) -> tuple[str, ...] | None:
    """The sorted distinct values when the column looks categorical: few distinct values, each
    seen twice on average. "At most half the non-null rows, or of all rows in a small table"
    comes down to 2 * distinct <= rows, as non-null rows never exceed rows."""
    strings = as_strings(column)
    distinct = pc.count_distinct(strings, mode="only_valid").as_py()
    if not (0 < distinct <= max_categories and 2 * distinct <= len(column)):
        return None
    return tuple(sorted(pc.unique(strings).drop_null().to_pylist()))


def dump_schema_yaml(schema: Schema) -> str:
    columns: dict[str, dict[str, Any]] = {}
    for column in schema.columns:
        entry: dict[str, Any] = {"type": column.type.value, "nullable": column.nullable}
        if column.type is ColumnType.CATEGORY and column.categories is not None:
            entry["categories"] = list(column.categories)
        if column.type.is_numeric:
            entry.update(
                {k: v for k, v in (("min", column.min), ("max", column.max)) if v is not None}
            )
            entry["range_tolerance"] = column.range_tolerance
        columns[column.name] = entry
    body = yaml.safe_dump({"columns": columns}, sort_keys=False, allow_unicode=True)
    return _YAML_HEADER + body


def load_schema_yaml(path: Path) -> Schema:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(f"{path}: cannot read the schema file: {exc}") from None
    return parse_schema_yaml(text, source=str(path))


def parse_schema_yaml(text: str, source: str = "schema") -> Schema:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidArgumentError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or "columns" not in data:
        raise InvalidArgumentError(f"{source}: expected a mapping with a 'columns' key")
    unknown = sorted(str(k) for k in data if k != "columns")
    if unknown:
        raise InvalidArgumentError(f"{source}: unknown key {unknown[0]!r} (known: columns)")
    columns = data["columns"] or {}
    if not isinstance(columns, dict):
        raise InvalidArgumentError(f"{source}: 'columns' must map column names to their rules")
    return Schema(tuple(_parse_column(source, name, rules) for name, rules in columns.items()))


_KEYS = ("type", "nullable", "categories", "min", "max", "range_tolerance")


def _parse_column(source: str, name: Any, rules: Any) -> ColumnSchema:
    if not isinstance(name, str):
        raise InvalidArgumentError(f"{source}: column name {name!r} must be a string (quote it)")

    def bad(key: str, problem: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"{source}: column {name!r}, key {key!r}: {problem}")

    if not isinstance(rules, dict):
        raise InvalidArgumentError(f"{source}: column {name!r} must be a mapping of rules")
    for key in rules:
        if key not in _KEYS:
            raise bad(str(key), f"unknown key (known: {', '.join(_KEYS)})")
    kind = _parse_type(rules.get("type"), bad)
    nullable = rules.get("nullable", True)
    if not isinstance(nullable, bool):
        raise bad("nullable", f"expected true or false, got {nullable!r}")
    categories = _parse_categories(rules.get("categories"), kind, bad)
    low, high = (_parse_bound(rules.get(key), key, kind, bad) for key in ("min", "max"))
    if low is not None and high is not None and low > high:
        raise bad("min", f"min {low:g} is above max {high:g}")
    tolerance = rules.get("range_tolerance", DEFAULT_TOLERANCE)
    if not _is_number(tolerance) or not tolerance >= 0:
        raise bad("range_tolerance", f"expected a number >= 0, got {tolerance!r}")
    return ColumnSchema(name, kind, nullable, categories, low, high, float(tolerance))


def _parse_type(value: Any, bad: Any) -> ColumnType:
    known = ", ".join(t.value for t in ColumnType)
    if value is None:
        raise bad("type", f"missing (one of {known})")
    try:
        return ColumnType(value)
    except ValueError:
        raise bad("type", f"{value!r} is not one of {known}") from None


def _parse_categories(value: Any, kind: ColumnType, bad: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if kind is not ColumnType.CATEGORY:
        raise bad("categories", f"applies to category columns only, this one is {kind.value}")
    if not isinstance(value, list):
        raise bad("categories", f"expected a list of values, got {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise bad("categories", f"{item!r} is not a string (quote it)")
    return tuple(dict.fromkeys(str(item) for item in value))


def _parse_bound(value: Any, key: str, kind: ColumnType, bad: Any) -> float | None:
    if value is None:
        return None
    if not kind.is_numeric:
        raise bad(key, f"applies to integer and float columns only, this one is {kind.value}")
    if not _is_number(value) or math.isnan(value):
        raise bad(key, f"expected a number, got {value!r}")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
