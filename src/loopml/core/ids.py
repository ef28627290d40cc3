"""Identifiers and clocks, kept in one place so that every layer agrees on them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime


def new_id() -> str:
    """A random 32-hex-digit id (a UUID4 without dashes)."""
    return uuid.uuid4().hex


def now_ms() -> int:
    """Milliseconds since the epoch, the unit every timestamp is stored in."""
    return time.time_ns() // 1_000_000


def ms_to_datetime(ms: int | None) -> datetime | None:
    """A stored millisecond timestamp as a timezone-aware UTC datetime."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time as written by `to_dict`, timezone-aware (UTC when none is given)."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
