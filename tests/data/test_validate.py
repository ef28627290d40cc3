from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from loopml.core.datasets import Anomaly, ColumnSchema, ColumnType, Schema, Severity
from loopml.data.readers import to_table
from loopml.data.schema import infer_schema, parse_schema_yaml
from loopml.data.validate import validate_table

SCHEMA = Schema(
    (
        ColumnSchema("age", ColumnType.INTEGER, nullable=False, min=0, max=100),
        ColumnSchema("income", ColumnType.FLOAT, nullable=True, min=10.0, max=20.0),
        ColumnSchema("city", ColumnType.CATEGORY, nullable=False, categories=("Lima", "Oslo")),
        ColumnSchema("member", ColumnType.BOOLEAN, nullable=True),
        ColumnSchema("since", ColumnType.DATETIME, nullable=True),
        ColumnSchema("note", ColumnType.STRING, nullable=True),
    )
)


def clean_columns() -> dict[str, pa.Array | list]:
    return {
        "age": [30, 40, 50],
        "income": [10.0, 15.0, None],
        "city": ["Lima", "Oslo", "Lima"],
        "member": [True, None, False],
        "since": pa.array([dt.datetime(2020, 1, 1), None, dt.datetime(2021, 1, 1)]),
        "note": ["a", "b", None],
    }


def check(**changes: pa.Array | list | None) -> list[Anomaly]:
    columns = clean_columns()
    for name, values in changes.items():
        if values is None:
            del columns[name]
        else:
            columns[name] = values
    report = validate_table(pa.table(columns), SCHEMA, dataset="people", version=3)
    return list(report.anomalies)


def the_one(anomalies: list[Anomaly]) -> Anomaly:
    assert len(anomalies) == 1, anomalies
    return anomalies[0]


def test_clean_table_passes() -> None:
    report = validate_table(pa.table(clean_columns()), SCHEMA, dataset="people", version=3)
    assert report.ok and report.anomalies == () and report.errors == ()
    assert (report.dataset, report.version, report.rows) == ("people", 3, 3)


def test_a_table_passes_its_own_inferred_schema() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.5, None, 3.0, 4.0],
            "n": [1, 2, 3, 4],
            "c": pd.Categorical(["a", "b", "a", None]),
            "s": ["p", "q", "r", "s"],
        }
    )
    table = to_table(frame)
    report = validate_table(table, infer_schema(table), dataset="d", version=None)
    assert report.ok and report.anomalies == ()


def test_missing_column() -> None:
    anomaly = the_one(check(city=None))
    assert (anomaly.kind, anomaly.severity, anomaly.column, anomaly.count) == (
        "missing_column",
        Severity.ERROR,
        "city",
        3,
    )
    assert "'city'" in anomaly.message


def test_unexpected_column() -> None:
    anomaly = the_one(check(extra=[1, 2, 3]))
    assert (anomaly.kind, anomaly.severity, anomaly.column) == (
        "unexpected_column",
        Severity.WARNING,
        "extra",
    )
    assert "'extra'" in anomaly.message


def test_type_changed() -> None:
    anomaly = the_one(check(age=["30", "40", "x"]))
    assert (anomaly.kind, anomaly.severity, anomaly.column) == (
        "type_changed",
        Severity.ERROR,
        "age",
    )
    assert "integer" in anomaly.message and "string" in anomaly.message
    assert the_one(check(member=[1, 0, 1])).kind == "type_changed"
    assert the_one(check(since=["2020-01-01", None, "2021"])).kind == "type_changed"
    assert the_one(check(income=["10", "11", "12"])).kind == "type_changed"
    # floats with a fraction are not integers
    assert the_one(check(age=[30.0, 40.5, 50.0])).kind == "type_changed"


def test_lossless_widenings_are_not_a_type_change() -> None:
    assert check(income=[11, 12, 13]) == []  # integers where floats are expected
    assert check(age=[30.0, 40.0, 50.0]) == []  # whole floats: pandas' integers with NaN
    assert check(city=pa.array(["Lima", "Oslo", "Oslo"], pa.large_string())) == []
    assert check(city=pa.array(["Lima", "Oslo", "Oslo"]).dictionary_encode()) == []
    assert check(age=pa.array([30, 40, 50], pa.uint8())) == []
    assert check(since=pa.array([dt.date(2020, 1, 1), None, None])) == []


def test_nulls_in_a_non_nullable_column() -> None:
    anomaly = the_one(check(age=[30, None, None]))
    assert (anomaly.kind, anomaly.severity, anomaly.column, anomaly.count) == (
        "nulls",
        Severity.ERROR,
        "age",
        2,
    )
    assert "2 of 3 rows" in anomaly.message
    # NaN counts as null: the integers arrive as floats with NaN from pandas
    anomaly = the_one(check(age=[30.0, float("nan"), 50.0]))
    assert (anomaly.kind, anomaly.count) == ("nulls", 1)
    assert check(income=[None, None, None]) == []  # nullable


def test_out_of_range_respects_the_tolerance() -> None:
    # the range [10, 20] widened by 10% of its width allows [9, 21]
    assert check(income=[9.0, 21.0, None]) == []
    anomaly = the_one(check(income=[8.5, 15.0, 25.0]))
    assert (anomaly.kind, anomaly.severity, anomaly.column, anomaly.count) == (
        "out_of_range",
        Severity.WARNING,
        "income",
        2,
    )
    for number in ("[10, 20]", "[9, 21]", "8.5", "25"):
        assert number in anomaly.message
    assert the_one(check(age=[-20, 40, 500])).count == 2


def test_range_with_one_bound_or_none() -> None:
    schema = parse_schema_yaml(
        "columns:\n  low: {type: float, min: 0}\n  free: {type: float}\n  exact: {type: integer,"
        " min: 5, max: 5, range_tolerance: 0.5}"
    )
    table = pa.table({"low": [-1.0, 1e9], "free": [-1e300, 1e300], "exact": [5, 6]})
    anomalies = validate_table(table, schema, dataset="d", version=1).anomalies
    assert [(a.column, a.kind, a.count) for a in anomalies] == [
        ("low", "out_of_range", 1),
        ("exact", "out_of_range", 1),
    ]


def test_unseen_categories() -> None:
    anomaly = the_one(check(city=["Lima", "Rome", "Rome"]))
    assert (anomaly.kind, anomaly.severity, anomaly.column, anomaly.count) == (
        "unseen_category",
        Severity.WARNING,
        "city",
        2,
    )
    assert "'Rome'" in anomaly.message
    schema = Schema((ColumnSchema("city", ColumnType.CATEGORY, categories=("Lima",)),))
    many = ["Lima", None] + [f"c{i}" for i in range(8)] + ["c7"] * 3
    report = validate_table(pa.table({"city": many}), schema, dataset="d", version=1)
    anomaly = the_one(list(report.anomalies))
    assert anomaly.count == 11  # rows; the null is not a category
    assert "8 values" in anomaly.message
    assert "'c7', 'c0', 'c1', 'c2', 'c3' and 3 more" in anomaly.message


def test_categories_pinned_on_integer_codes() -> None:
    schema = parse_schema_yaml("columns:\n  code: {type: category, categories: [1, 2]}")
    table = pa.table({"code": [1, 2, 3, None]})
    anomaly = the_one(list(validate_table(table, schema, dataset="d", version=1).anomalies))
    assert (anomaly.kind, anomaly.count) == ("unseen_category", 1)
    assert "'3'" in anomaly.message


def test_unseen_category_severity_can_be_raised() -> None:
    table = pa.table(clean_columns()).set_column(2, "city", pa.array(["Lima", "Rome", "Oslo"]))
    report = validate_table(table, SCHEMA, dataset="d", version=1, unseen_severity=Severity.ERROR)
    assert not report.ok and report.errors[0].kind == "unseen_category"


def test_empty_table_is_an_error() -> None:
    table = pa.table({name: pa.array([], pa.null()) for name in SCHEMA.names})
    report = validate_table(table, SCHEMA, dataset="d", version=1)
    anomaly = the_one(list(report.anomalies))
    assert (anomaly.kind, anomaly.severity, anomaly.column) == ("empty", Severity.ERROR, None)
    assert not report.ok and report.rows == 0


def test_all_null_and_mixed_columns_do_not_crash() -> None:
    anomalies = check(age=pa.nulls(3), income=pa.nulls(3), city=pa.nulls(3, pa.string()))
    assert sorted((a.column, a.kind, a.count) for a in anomalies) == [
        ("age", "nulls", 3),
        ("city", "nulls", 3),
    ]
    frame = pd.DataFrame(clean_columns() | {"age": [30, "forty", None]})
    frame["since"] = pd.to_datetime(frame["since"])
    report = validate_table(to_table(frame), SCHEMA, dataset="d", version=1)
    assert sorted((a.column, a.kind) for a in report.anomalies) == [
        ("age", "nulls"),
        ("age", "type_changed"),
    ]
    assert not report.ok


def test_several_anomalies_are_all_reported() -> None:
    anomalies = check(
        age=None, income=[100.0, None, None], city=["Lima", None, "Rome"], x=[1, 2, 3]
    )
    kinds = [(a.column, a.kind, a.severity) for a in anomalies]
    assert kinds == [
        ("age", "missing_column", Severity.ERROR),
        ("income", "out_of_range", Severity.WARNING),
        ("city", "nulls", Severity.ERROR),
        ("city", "unseen_category", Severity.WARNING),
        ("x", "unexpected_column", Severity.WARNING),
    ]


@pytest.mark.parametrize(
    ("kind", "name", "values"),
    [
        ("unexpected_column", "extra", [1, 2, 3]),
        ("out_of_range", "income", [1000.0, None, None]),
        ("unseen_category", "city", ["Rome", "Lima", "Lima"]),
    ],
)
def test_warnings_alone_keep_the_report_ok(kind: str, name: str, values: list[object]) -> None:
    report = validate_table(
        pa.table(clean_columns() | {name: values}), SCHEMA, dataset="d", version=1
    )
    assert [a.kind for a in report.anomalies] == [kind]
    assert report.ok and report.errors == ()
