"""Read CSV, Parquet and JSON Lines files (or a folder of them) into one pyarrow Table.

Every failure becomes an InvalidArgumentError naming the file; no pyarrow traceback escapes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pa_parquet

from loopml.core.errors import InvalidArgumentError
from loopml.core.frames import is_polars, polars_to_arrow
from loopml.data.formats import SUFFIX_FORMATS, format_of_files, format_of_name, is_data_file

FORMATS = SUFFIX_FORMATS
_NAMES = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSON Lines"}


def tabular_format(path: Path) -> str | None:
    """The format of a file, or of a folder whose files all share one; None for anything else."""
    path = Path(path)
    if path.is_dir():
        return format_of_files(p.relative_to(path).as_posix() for p in _folder_files(path))
    return format_of_name(path.name)


def read_table(path: Path, format: str | None = None) -> pa.Table:
    path = Path(path)
    if not path.exists():
        raise InvalidArgumentError(f"{path}: no such file or folder")
    if format is not None and format not in _NAMES:
        raise InvalidArgumentError(f"unknown table format {format!r} (known: {', '.join(_NAMES)})")
    files = _folder_files(path) if path.is_dir() else [path]
    if not files:
        raise InvalidArgumentError(f"{path}: the folder holds no files")
    tables = [_read_file(file, format or _format_of(file)) for file in files]
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowException, ValueError) as exc:
        raise InvalidArgumentError(
            f"{path}: the files do not share one set of column types: {exc}"
        ) from None


def to_table(data: Any) -> pa.Table:
    """A pyarrow Table from a pandas or polars DataFrame, a pyarrow Table, or a path to read."""
    if isinstance(data, pa.Table):
        return data
    if is_polars(data):
        return polars_to_arrow(data)
    if isinstance(data, str | os.PathLike):
        return read_table(Path(data))
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return _from_pandas(data)
    raise InvalidArgumentError(
        f"expected a pandas or polars DataFrame, a pyarrow Table or a path, got "
        f"{type(data).__name__}"
    )


def _folder_files(folder: Path) -> list[Path]:
    """Data files under a folder in sorted order, skipping hidden and `_`-prefixed names
    (.DS_Store, Spark's _SUCCESS) at any depth."""
    files = []
    for file in folder.rglob("*"):
        if file.is_file() and is_data_file(file.relative_to(folder).as_posix()):
            files.append(file)
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _format_of(file: Path) -> str:
    format = FORMATS.get(file.suffix.lower())
    if format is None:
        raise InvalidArgumentError(
            f"{file}: unsupported file type {file.suffix or '(no suffix)'!r}; "
            "expected .csv, .parquet, .pq, .jsonl, .ndjson or .json"
        )
    return format


def _read_file(file: Path, format: str) -> pa.Table:
    try:
        with file.open("rb") as handle:
            empty = not handle.read(1)
    except OSError as exc:
        raise InvalidArgumentError(f"{file}: cannot open: {exc.strerror or exc}") from None
    if empty:
        raise InvalidArgumentError(f"{file}: the file is empty")
    try:
        return _READERS[format](file)
    except (pa.ArrowException, OSError, ValueError) as exc:
        detail = _csv_detail(file) if format == "csv" else None
        raise InvalidArgumentError(
            f"{file}: not a valid {_NAMES[format]} file: {detail or exc}"
        ) from None


def _csv_detail(file: Path) -> str | None:
    """Re-read single-threaded: only then does pyarrow's parse error carry the row number."""
    try:
        pa_csv.read_csv(file, read_options=pa_csv.ReadOptions(use_threads=False))
    except (pa.ArrowException, OSError, ValueError) as exc:
        return str(exc)
    return None


_READERS = {
    "csv": pa_csv.read_csv,
    "parquet": pa_parquet.read_table,
    "jsonl": pa_json.read_json,
}


def _from_pandas(frame: Any) -> pa.Table:
    """Columns pyarrow cannot convert (Python objects of mixed types) become strings, so a
    messy frame can still be validated: the schema check then reports the changed type."""
    if frame.columns.duplicated().any():
        names = sorted({str(n) for n in frame.columns[frame.columns.duplicated()]})
        raise InvalidArgumentError(f"the DataFrame has duplicate column names: {names}")
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError):
        pass
    frame = frame.copy()
    for name in frame.columns:
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowException, ValueError):
            frame[name] = frame[name].map(lambda v: v if _is_missing(v) else str(v))
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError) as exc:
        raise InvalidArgumentError(f"cannot convert the DataFrame to a table: {exc}") from None


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
