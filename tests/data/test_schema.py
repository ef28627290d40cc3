from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from loopml.core.datasets import ColumnSchema, ColumnType, Schema, schema_from_json, schema_to_json
from loopml.core.errors import InvalidArgumentError
from loopml.data.schema import dump_schema_yaml, infer_schema, load_schema_yaml, parse_schema_yaml


def column(schema: Schema, name: str) -> ColumnSchema:
    found = schema.column(name)
    assert found is not None
    return found


def sample_table() -> pa.Table:
    return pa.table(
        {
            "age": pa.array([30, 41, None, 25, 30, 67], pa.int32()),
            "score": [0.5, 1.5, 2.5, float("nan"), -1.0, 3.0],
            "ok": [True, False, True, True, False, True],
            "when": pa.array([dt.datetime(2024, 1, i) for i in range(1, 7)], pa.timestamp("ms")),
            "day": pa.array([dt.date(2024, 2, i) for i in range(1, 7)], pa.date32()),
            "city": ["Oslo", "Lima", "Oslo", "Lima", "Oslo", "Pune"],
            "id": ["a1", "a2", "a3", "a4", "a5", "a6"],
            "tags": [[1], [2], [], None, [3], [4]],
            "nothing": pa.nulls(6),
        }
    )


def test_infers_types_nullability_ranges_and_domains() -> None:
    schema = infer_schema(sample_table())
    assert schema.names == ("age", "score", "ok", "when", "day", "city", "id", "tags", "nothing")
    kinds = {c.name: c.type for c in schema.columns}
    assert kinds == {
        "age": ColumnType.INTEGER,
        "score": ColumnType.FLOAT,
        "ok": ColumnType.BOOLEAN,
        "when": ColumnType.DATETIME,
        "day": ColumnType.DATETIME,
        "city": ColumnType.CATEGORY,
        "id": ColumnType.STRING,
        "tags": ColumnType.OTHER,
        "nothing": ColumnType.OTHER,
    }
    age, score, city = column(schema, "age"), column(schema, "score"), column(schema, "city")
    assert (age.nullable, age.min, age.max) == (True, 25.0, 67.0)
    assert score.nullable  # NaN counts as null
    assert (score.min, score.max) == (-1.0, 3.0)
    assert city.categories == ("Lima", "Oslo", "Pune") and not city.nullable
    assert column(schema, "id").categories is None
    assert column(schema, "ok").min is None and not column(schema, "ok").nullable
    assert column(schema, "nothing").nullable


def test_category_thresholds() -> None:
    many = [f"v{i % 60}" for i in range(600)]  # 60 distinct values, each 10 times
    assert column(infer_schema(pa.table({"c": many})), "c").type is ColumnType.STRING
    schema = infer_schema(pa.table({"c": many}), max_categories=60)
    assert column(schema, "c").type is ColumnType.CATEGORY
    assert len(column(schema, "c").categories or ()) == 60
    # more distinct values than half the rows: an identifier, not a category
    assert column(infer_schema(pa.table({"c": ["a", "b", "c"]})), "c").type is ColumnType.STRING
    # a small table still gets categories when each value repeats
    schema = infer_schema(pa.table({"c": ["b", "a", "b", "a"]}))
    assert column(schema, "c").categories == ("a", "b")
    # nulls do not count as a category, and an all-null string column stays a string
    schema = infer_schema(pa.table({"c": ["x", None, "x", None], "n": pa.nulls(4, pa.string())}))
    assert column(schema, "c").categories == ("x",) and column(schema, "c").nullable
    assert column(schema, "n").type is ColumnType.STRING


def test_pandas_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "cat": pd.Categorical(["x", "y", "x", "x"]),
            "i": pd.array([1, None, 3, 4], dtype="Int64"),
            "f": [1.0, np.nan, 2.0, 3.0],
            "t": pd.to_datetime(["2024-01-01", None, "2024-01-03", "2024-01-04"]),
        }
    )
    schema = infer_schema(pa.Table.from_pandas(frame, preserve_index=False))
    assert column(schema, "cat").categories == ("x", "y")
    assert column(schema, "i").type is ColumnType.INTEGER and column(schema, "i").nullable
    assert column(schema, "f").nullable
    assert column(schema, "t").type is ColumnType.DATETIME and column(schema, "t").nullable


def test_empty_table() -> None:
    schema = infer_schema(
        pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    )
    x = column(schema, "x")
    assert (x.type, x.min, x.max, x.nullable) == (ColumnType.FLOAT, None, None, False)
    assert column(schema, "s").type is ColumnType.STRING


def test_inferred_schema_survives_json() -> None:
    schema = infer_schema(sample_table())
    assert schema_from_json(schema_to_json(schema)) == schema


def test_yaml_round_trip(tmp_path: Path) -> None:
    schema = infer_schema(sample_table())
    text = dump_schema_yaml(schema)
    assert text.startswith("#")  # explains itself to whoever edits it
    assert parse_schema_yaml(text) == schema
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    assert load_schema_yaml(path) == schema
    # readable: a mapping of column names to their rules
    city = yaml.safe_load(text)["columns"]["city"]
    assert city == {"type": "category", "nullable": False, "categories": ["Lima", "Oslo", "Pune"]}


def test_yaml_with_awkward_names_round_trips() -> None:
    schema = Schema(
        (
            ColumnSchema("yes", ColumnType.BOOLEAN, False),
            ColumnSchema("1", ColumnType.CATEGORY, True, categories=("no", "1", "a: b", "")),
            ColumnSchema("größe", ColumnType.FLOAT, True, min=-1e300, max=float("inf")),
        )
    )
    assert parse_schema_yaml(dump_schema_yaml(schema)) == schema


def test_edited_yaml_loosens_the_rules(tmp_path: Path) -> None:
    data = yaml.safe_load(dump_schema_yaml(infer_schema(sample_table())))
    columns = data["columns"]
    columns["city"]["nullable"] = True
    columns["city"]["categories"].append("Rome")
    columns["age"].update({"min": 0, "max": 120, "range_tolerance": 0})
    del columns["id"]
    del columns["score"]["max"]
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(data))
    schema = load_schema_yaml(path)
    assert "id" not in schema.names
    assert column(schema, "city").nullable
    assert column(schema, "city").categories == ("Lima", "Oslo", "Pune", "Rome")
    age = column(schema, "age")
    assert (age.min, age.max, age.range_tolerance) == (0.0, 120.0, 0.0)
    assert column(schema, "score").max is None and column(schema, "score").min == -1.0


def test_minimal_yaml_uses_defaults() -> None:
    schema = parse_schema_yaml(
        "columns:\n  x: {type: float}\n  c: {type: category, categories: [a, 2]}"
    )
    assert schema.columns[0] == ColumnSchema("x", ColumnType.FLOAT)
    assert schema.columns[1].categories == ("a", "2")
    assert parse_schema_yaml("columns:\n") == Schema(())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("columns:\n  x: {type: float, nulable: true}", r"column 'x', key 'nulable': unknown key"),
        ("columns:\n  x: {type: decimal}", r"column 'x', key 'type': 'decimal' is not one of"),
        ("columns:\n  x: {nullable: true}", r"column 'x', key 'type': missing"),
        ("columns:\n  x: {type: float, nullable: maybe}", r"column 'x', key 'nullable'"),
        ("columns:\n  x: {type: float, min: low}", r"column 'x', key 'min': expected a number"),
        ("columns:\n  x: {type: float, max: .nan}", r"column 'x', key 'max': expected a number"),
        ("columns:\n  x: {type: float, min: 5, max: 1}", r"column 'x', key 'min': min 5 is above"),
        ("columns:\n  x: {type: string, min: 1}", r"column 'x', key 'min': applies to integer"),
        ("columns:\n  x: {type: float, range_tolerance: -1}", r"column 'x', key 'range_tolerance'"),
        ("columns:\n  x: {type: float, range_tolerance: lots}", r"key 'range_tolerance'"),
        ("columns:\n  x: {type: integer, categories: [a]}", r"column 'x', key 'categories'"),
        ("columns:\n  x: {type: category, categories: a}", r"key 'categories': expected a list"),
        ("columns:\n  x: {type: category, categories: [yes]}", r"True is not a string"),
        ("columns:\n  x: float", r"column 'x' must be a mapping"),
        ("columns:\n  1.5: {type: float}", r"column name 1.5 must be a string"),
        ("columns: [x, y]", r"'columns' must map column names"),
        ("columns: {}\nstrict: true", r"unknown key 'strict'"),
        ("- x\n- y", r"expected a mapping with a 'columns' key"),
        ("columns: {x: [}", r"not valid YAML"),
    ],
)
def test_bad_yaml_names_the_key(text: str, expected: str) -> None:
    with pytest.raises(InvalidArgumentError, match=expected):
        parse_schema_yaml(text, source="s.yaml")


def test_bad_yaml_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text("columns:\n  x: {type: float, nulable: true}\n")
    with pytest.raises(InvalidArgumentError, match=re.escape(f"{path}: column 'x', key 'nulable'")):
        load_schema_yaml(path)
    with pytest.raises(InvalidArgumentError, match="cannot read the schema file"):
        load_schema_yaml(tmp_path / "missing.yaml")
