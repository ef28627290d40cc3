"""Strict reading of `loopml.yaml` values, with errors that name the file, the key and the problem.

Every section parser walks its part of the document with a `Field`: a value plus where it is
(`alerts[2].threshold`), so a message reads
`/repo/loopml.yaml:14: alerts[2].threshold: must be a number, got 'high'` (the line where
the key stands, when the document was read by `load_yaml`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from loopml.core.entities import FrozenDict
from loopml.core.errors import InvalidArgumentError

# For each mapping or list of a document read by `load_yaml` (by id, the document keeps them
# alive): key or index -> the line it stands on.
Lines = Mapping[int, Mapping[Any, int]]


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
    line: int | None = None
    lines: Lines = dataclasses.field(default_factory=FrozenDict, repr=False)

    def error(self, problem: str) -> ProjectConfigError:
        where = f"{self.source}:{self.line}" if self.line else f"{self.source}"
        return ProjectConfigError(f"{where}: {self.key}: {problem}")

    def child(self, key: str | int) -> Field:
        line = self.lines.get(id(self.value), {}).get(key) or self.line
        if isinstance(key, int):
            return Field(self.source, f"{self.key}[{key}]", self.value[key], line, self.lines)
        path = f"{self.key}.{key}" if self.key else key
        return Field(self.source, path, self.value.get(key), line, self.lines)

    def renamed(self, key: str, value: Any = None) -> Field:
        """The same place under another name (or with a normalised value) for messages."""
        return Field(
            self.source, key, self.value if value is None else value, self.line, self.lines
        )

    def mapping(self, *, allowed: Collection[str] | None = None) -> Mapping[str, Any]:
        if not isinstance(self.value, Mapping):
            raise self.error(f"must be a mapping, got {_show(self.value)}")
        for key in self.value:
            if not isinstance(key, str):
                raise self.error(f"keys must be text, got {_show(key)}")
            if allowed is not None and key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.child(key).error(f"unknown key {key!r} (allowed: {known})")
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


def load_yaml(text: str) -> tuple[Any, Lines]:
    """Parse YAML safely, keeping the line of every key and list item for error messages."""
    import yaml

    lines: dict[int, dict[Any, int]] = {}

    class LineLoader(yaml.SafeLoader):
        pass

    def mapping(loader: LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        value = loader.construct_mapping(node, deep=True)
        lines[id(value)] = {
            loader.construct_object(key, deep=True): key.start_mark.line + 1
            for key, _ in node.value
            if isinstance(key, yaml.ScalarNode)
        }
        return value

    def sequence(loader: LineLoader, node: yaml.SequenceNode) -> list[Any]:
        value = loader.construct_sequence(node, deep=True)
        lines[id(value)] = {i: item.start_mark.line + 1 for i, item in enumerate(node.value)}
        return value

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    return yaml.load(text, Loader=LineLoader), lines
