"""Which tabular format a file name or a set of files is, by suffix."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

SUFFIX_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def format_of_name(name: str) -> str | None:
    return SUFFIX_FORMATS.get(PurePath(name).suffix.lower())


def is_data_file(rel: str) -> bool:
    """Not hidden and not `_`-prefixed at any depth (.DS_Store, Spark's _SUCCESS)."""
    return not any(part.startswith((".", "_")) for part in rel.split("/"))


def format_of_files(names: Iterable[str]) -> str | None:
    """The one tabular format all data files share, or None (then the data is plain files)."""
    formats = {format_of_name(name) for name in names if is_data_file(name)}
    if len(formats) == 1:
        return formats.pop()
    return None
