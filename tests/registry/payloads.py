"""A pickle that runs code when loaded: the security tests' proof that nothing unpickled it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Payload:
    """Unpickling it creates the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))
