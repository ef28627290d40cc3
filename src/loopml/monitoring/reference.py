"""What current data is compared against: a dataset version's stored profile (by default
the one the served model was trained on, found through lineage), or a frame."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from blake3 import blake3

from loopml.core.datasets import DatasetVersion, Profile, profile_to_json
from loopml.core.errors import NotFoundError
from loopml.core.models import ModelVersion
from loopml.data import versions
from loopml.data.profile import profile_table
from loopml.data.readers import to_table
from loopml.workspace import Workspace

MAX_HOPS = 200


@dataclasses.dataclass(frozen=True)
class Reference:
    profile: Profile
    label: str
    dataset: DatasetVersion | None = None

    def key(self) -> str:
        """A digest naming this reference: its dataset version's, else its profile's."""
        if self.dataset is not None:
            return self.dataset.digest
        text = json.dumps(profile_to_json(self.profile), sort_keys=True, default=str)
        return blake3(text.encode()).hexdigest()


def from_dataset(ws: Workspace, name: str, version: int | str = "latest") -> Reference:
    record = ws.store.datasets.get_version(name, version)
    profile = versions.read_profile(ws.artifacts, record)
    if profile is None:
        raise NotFoundError(f"dataset {name} v{record.version} has no profile (not tabular)")
    return Reference(profile, f"dataset {record.name}@{record.version}", record)


def from_frame(data: Any, label: str = "frame") -> Reference:
    return Reference(profile_table(to_table(data)), label)


def training_dataset(ws: Workspace, model: ModelVersion) -> DatasetVersion | None:
    """The dataset version upstream of the run that produced `model`: its inputs, then the
    runs that produced its artifact inputs, breadth first (the pipeline's lineage)."""
    pending = [model.run_id] if model.run_id else []
    seen: set[str] = set()
    while pending and len(seen) < MAX_HOPS:
        run_id = pending.pop(0)
        if run_id in seen:
            continue
        seen.add(run_id)
        for item in ws.store.runs.inputs(run_id):
            if item.kind == "dataset":
                return ws.store.datasets.get_version(item.name, int(item.version))
            if item.kind == "artifact" and item.version:
                pending.append(item.version)  # the run that produced this input
    return None


def for_model(ws: Workspace, model: ModelVersion, deployment: str | None = None) -> Reference:
    """The dataset `model` was trained on (through lineage), else the reference the
    deployment's policy in loopml.yaml names."""
    dataset = training_dataset(ws, model)
    if dataset is not None:
        return from_dataset(ws, dataset.name, dataset.version)
    named = _policy_reference(ws, deployment)
    if named is not None:
        return resolve(ws, named)
    where = f"policies.{deployment}.reference" if deployment else "policies.DEPLOYMENT.reference"
    raise NotFoundError(
        f"no dataset version is recorded upstream of {model.uri} (registered outside a "
        f"pipeline?): pass reference= (--reference NAME@VERSION), or name it in loopml.yaml "
        f"as {where}: NAME@VERSION"
    )


def _policy_reference(ws: Workspace, deployment: str | None) -> str | None:
    if deployment is None:
        return None
    from loopml.core.project_config import load_project_config

    policy = load_project_config(ws.config.project_root).policies.get(deployment)
    return None if policy is None else policy.reference


def resolve(ws: Workspace, reference: Any) -> Reference:
    """A reference from `name`, `name@version`, a DatasetVersion, or a frame/table/path."""
    if isinstance(reference, Reference):
        return reference
    if isinstance(reference, DatasetVersion):
        return from_dataset(ws, reference.name, reference.version)
    if isinstance(reference, str) and not reference.endswith((".csv", ".parquet", ".jsonl")):
        name, _, version = reference.partition("@")
        return from_dataset(ws, name, version or "latest")
    return from_frame(reference)
