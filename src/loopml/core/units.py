"""Quantities as people read them."""

from __future__ import annotations


def format_size(size: int | None) -> str:
    """Bytes in B, KiB, MiB or GiB ("" for an unknown size)."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)
