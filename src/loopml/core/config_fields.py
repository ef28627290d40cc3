"""Strict reading of `loopml.yaml` values, with errors that name the file, the key and the problem.

Every section parser walks its part of the document with a `Field`: a value plus where it is
(`alerts[2].threshold`), so a message reads
`/repo/loopml.yaml: alerts[2].threshold: must be a number, got 'high'`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidArgumentError


class ProjectConfigError(InvalidArgumentError):
    """`loopml.yaml` is not valid YAML, or a key in it is missing, unknown or malformed."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    source: Path
    key: str  # where in the document, e.g. "alerts[0].notify"
    value: Any

    def error(self, problem: str) -> ProjectConfigError:
        return ProjectConfigError(f"{self.source}: {self.key}: {problem}")

    def child(self, key: str | int) -> Field:
        if isinstance(key, int):
            return Field(self.source, f"{self.key}[{key}]", self.value[key])
        return Field(self.source, f"{self.key}.{key}", self.value.get(key))

    def mapping(self, *, allowed: Collection[str] | None = None) -> Mapping[str, Any]:
        if not isinstance(self.value, Mapping):
            raise self.error(f"must be a mapping, got {_show(self.value)}")
        for key in self.value:
            if not isinstance(key, str):
                raise self.error(f"keys must be text, got {_show(key)}")
            if allowed is not None and key not in allowed:
                raise self.error(f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
        return self.value

    def sequence(self) -> list[Any]:
        if not isinstance(self.value, list):
            raise self.error(f"must be a list, got {_show(self.value)}")
        return self.value

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.error(f"must be non-empty text, got {_show(self.value)}")
        return self.value

    def number(self, *, low: float | None = None, high: float | None = None) -> float:
        value = self.value
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.error(f"must be a number, got {_show(value)}")
        if low is not None and value < low:
            raise self.error(f"must be at least {low:g}, got {value}")
        if high is not None and value > high:
            raise self.error(f"must be at most {high:g}, got {value}")
        return float(value)

    def required(self) -> Field:
        if self.value is None:
            raise self.error("is required")
        return self

    def absent(self, why: str) -> None:
        if self.value is not None:
            raise self.error(f"does not apply: {why}")
