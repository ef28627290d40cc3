"""Records of the model registry: models, versions, signatures, and the audit trail."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

from loopml.core.entities import FrozenDict


class VersionStatus(enum.StrEnum):
    READY = "READY"
    ARCHIVED = "ARCHIVED"  # kept for audit and lineage, never served by an alias


@dataclasses.dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    type: str  # integer, float, boolean, string, datetime, other


@dataclasses.dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor input: its numpy dtype name ("float32") and shape, -1 where any size goes
    (the batch dimension first)."""

    dtype: str
    shape: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TensorSpec:
        return cls(str(data["dtype"]), tuple(int(n) for n in data["shape"]))


@dataclasses.dataclass(frozen=True, slots=True)
class Signature:
    """What a model takes (named, typed columns, and/or one tensor) and what it returns."""

    inputs: tuple[ColumnSpec, ...]
    output: str | None = None  # the type of one prediction, when known
    tensor: TensorSpec | None = None  # an array input's dtype and shape, when recorded

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.inputs]

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "inputs": [{"name": c.name, "type": c.type} for c in self.inputs],
            "output": self.output,
        }
        if self.tensor is not None:
            found["tensor"] = self.tensor.to_json()
        return found

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signature:
        inputs = tuple(ColumnSpec(c["name"], c["type"]) for c in data.get("inputs", []))
        tensor = data.get("tensor")
        return cls(inputs, data.get("output"), TensorSpec.from_json(tensor) if tensor else None)


@dataclasses.dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    created_time: datetime
    latest_version: int
    description: str | None = None
    tags: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    aliases: FrozenDict = dataclasses.field(default_factory=FrozenDict)  # alias -> version


@dataclasses.dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    flavor: str
    digest: str  # of the stored model (a file, or a folder manifest)
    size: int
    created_time: datetime
    signature: Signature | None = None
    run_id: str | None = None
    aliases: tuple[str, ...] = ()
    metrics: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    tags: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    description: str | None = None
    status: VersionStatus = VersionStatus.READY
    # Types the flavor may load, decided when the model was saved and kept here, in the
    # metadata store: never read from the model's own files.
    trusted_types: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"{self.name}/{self.version}"


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    time: datetime
    actor: str
    action: str  # alias.set, alias.delete, version.archive, ...
    target: str  # what changed, e.g. "model:iris-clf"
    details: FrozenDict = dataclasses.field(default_factory=FrozenDict)
