from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.data.readers import read_table, tabular_format, to_table

FRAME = pd.DataFrame({"x": [1, 2, 3], "name": ["a", "b", "c"]})


def write(path: Path, frame: pd.DataFrame = FRAME) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    return path


def assert_clean_error(excinfo: pytest.ExceptionInfo[InvalidArgumentError], path: Path) -> None:
    assert str(path) in str(excinfo.value)
    error = excinfo.value  # no pyarrow exception shown as its cause or context
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


@pytest.mark.parametrize(
    ("name", "format"),
    [
        ("t.csv", "csv"),
        ("t.parquet", "parquet"),
        ("t.pq", "parquet"),
        ("t.jsonl", "jsonl"),
        ("t.ndjson", "jsonl"),
        ("t.json", "jsonl"),
        ("T.CSV", "csv"),
    ],
)
def test_reads_each_format(tmp_path: Path, name: str, format: str) -> None:
    path = write(tmp_path / name)
    assert tabular_format(path) == format
    table = read_table(path)
    assert table.column_names == ["x", "name"]
    assert table.column("x").to_pylist() == [1, 2, 3]
    assert table.column("name").to_pylist() == ["a", "b", "c"]


def test_explicit_format_overrides_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    FRAME.to_csv(path, index=False)
    assert tabular_format(path) is None
    assert read_table(path, format="csv").num_rows == 3
    with pytest.raises(InvalidArgumentError, match="unknown table format 'xls'"):
        read_table(path, format="xls")


def test_folder_is_one_table_in_sorted_file_order(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    write(folder / "b.csv", pd.DataFrame({"x": [3, 4]}))
    write(folder / "a.csv", pd.DataFrame({"x": [1, 2]}))
    write(folder / "c" / "d.csv", pd.DataFrame({"x": [5.5]}))  # promotes the column to float
    (folder / ".DS_Store").write_bytes(b"\0junk")
    (folder / "_SUCCESS").write_text("")
    assert tabular_format(folder) == "csv"
    table = read_table(folder)
    assert table.column("x").to_pylist() == [1, 2, 3, 4, 5.5]
    assert table.schema.field("x").type == pa.float64()


def test_folder_of_parquet_files(tmp_path: Path) -> None:
    folder = tmp_path / "pq"
    write(folder / "part-0.parquet")
    write(folder / "part-1.parquet")
    assert tabular_format(folder) == "parquet"
    assert read_table(folder).num_rows == 6


def test_mixed_folder_is_not_tabular(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    write(folder / "a.csv")
    write(folder / "b.parquet")
    assert tabular_format(folder) is None
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(InvalidArgumentError, match=r"unsupported file type '\.txt'") as excinfo:
        read_table(folder)
    assert_clean_error(excinfo, folder / "notes.txt")


def test_folder_with_incompatible_files(tmp_path: Path) -> None:
    folder = tmp_path / "clash"
    write(folder / "a.csv", pd.DataFrame({"x": [1, 2]}))
    write(folder / "b.csv", pd.DataFrame({"x": ["p", "q"]}))
    with pytest.raises(InvalidArgumentError, match="do not share one set of column types"):
        read_table(folder)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="holds no files"):
        read_table(tmp_path)
    assert tabular_format(tmp_path) is None


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(InvalidArgumentError, match="no such file") as excinfo:
        read_table(path)
    assert_clean_error(excinfo, path)


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x00\x01")
    with pytest.raises(InvalidArgumentError, match=r"unsupported file type '\.bin'") as excinfo:
        read_table(path)
    assert_clean_error(excinfo, path)


def test_csv_with_ragged_rows_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5\n6,7\n")
    with pytest.raises(InvalidArgumentError, match="not a valid CSV file") as excinfo:
        read_table(path)
    assert_clean_error(excinfo, path)
    assert "Row #3" in str(excinfo.value)
    assert "Expected 2 columns, got 3" in str(excinfo.value)


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet", "empty.jsonl"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(InvalidArgumentError, match="the file is empty") as excinfo:
        read_table(path)
    assert_clean_error(excinfo, path)


def test_empty_file_inside_a_folder_is_named(tmp_path: Path) -> None:
    write(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_bytes(b"")
    with pytest.raises(InvalidArgumentError, match="the file is empty") as excinfo:
        read_table(tmp_path)
    assert_clean_error(excinfo, tmp_path / "b.csv")


def test_header_only_csv_is_a_table_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("a,b\n")
    table = read_table(path)
    assert table.column_names == ["a", "b"] and table.num_rows == 0


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_parquet(tmp_path: Path, keep: float) -> None:
    real = tmp_path / "real.parquet"
    pq.write_table(
        pa.table({"x": list(range(10_000)), "y": [float(i) for i in range(10_000)]}), real
    )
    data = real.read_bytes()
    path = tmp_path / "cut.parquet"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InvalidArgumentError, match="not a valid Parquet file") as excinfo:
        read_table(path)
    assert_clean_error(excinfo, path)


def test_corrupt_parquet_body(tmp_path: Path) -> None:
    real = tmp_path / "real.parquet"
    pq.write_table(pa.table({"x": list(range(10_000))}), real)
    data = bytearray(real.read_bytes())
    data[8:200] = b"\xff" * 192
    path = tmp_path / "corrupt.parquet"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidArgumentError, match="not a valid Parquet file") as excinfo:
        read_table(path)
    assert_clean_error(excinfo, path)


def test_invalid_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": 2\n')
    with pytest.raises(InvalidArgumentError, match="not a valid JSON Lines file") as excinfo:
        read_table(path)
    assert_clean_error(excinfo, path)


def test_a_json_array_is_not_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "array.json"
    path.write_text('[{"a": 1}, {"a": 2}]')
    with pytest.raises(InvalidArgumentError, match="not a valid JSON Lines file"):
        read_table(path)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root reads files whatever their mode, so chmod 000 cannot make one unreadable",
)
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.csv")
    path.chmod(0)
    try:
        with pytest.raises(InvalidArgumentError, match="cannot open") as excinfo:
            read_table(path)
        assert_clean_error(excinfo, path)
    finally:
        path.chmod(0o644)


def test_open_failure_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unreadable-file path as root sees it too: opening fails with EACCES."""
    path = write(tmp_path / "secret.csv")

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(InvalidArgumentError, match="cannot open: Permission denied") as excinfo:
        read_table(path)
    assert_clean_error(excinfo, path)


def test_to_table_accepts_frames_tables_and_paths(tmp_path: Path) -> None:
    table = pa.table({"x": [1]})
    assert to_table(table) is table
    indexed = FRAME.set_index("name")
    assert to_table(indexed).column_names == ["x"]  # the index is not a column
    path = write(tmp_path / "t.parquet")
    assert to_table(path).num_rows == 3
    assert to_table(str(path)).num_rows == 3


def test_to_table_turns_mixed_object_columns_into_strings() -> None:
    frame = pd.DataFrame({"mixed": [1, "a", None, 2.5], "ok": [1, 2, 3, 4]})
    table = to_table(frame)
    assert table.column("mixed").to_pylist() == ["1", "a", None, "2.5"]
    assert table.column("ok").to_pylist() == [1, 2, 3, 4]


def test_to_table_refuses_other_objects() -> None:
    with pytest.raises(InvalidArgumentError, match="got list"):
        to_table([1, 2, 3])
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidArgumentError, match="duplicate column names"):
        to_table(frame)
