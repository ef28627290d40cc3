"""polars frames wherever pandas ones are accepted, without importing either library here:
a polars DataFrame (or LazyFrame, collected first) becomes pandas or Arrow at the API's edge,
through Arrow (no copy of numeric columns)."""

from __future__ import annotations

from typing import Any

POLARS_FRAMES = ("DataFrame", "LazyFrame")


def is_polars(obj: Any) -> bool:
    kind = type(obj)
    return kind.__module__.split(".", 1)[0] == "polars" and kind.__name__ in POLARS_FRAMES


def collected(frame: Any) -> Any:
    """A polars DataFrame (a LazyFrame is collected)."""
    return frame.collect() if type(frame).__name__ == "LazyFrame" else frame


def as_pandas(obj: Any) -> Any:
    """`obj` as a pandas DataFrame when it is a polars frame; anything else as it is."""
    return collected(obj).to_pandas() if is_polars(obj) else obj


def polars_to_arrow(frame: Any) -> Any:
    """A polars frame as a pyarrow Table."""
    return collected(frame).to_arrow()
