"""`loopml.datasets`: add, load, validate and inspect versioned datasets.

v = loopml.datasets.add("tx", "data/tx.parquet")         # DatasetVersion
frame = loopml.datasets.load("tx", version="latest")     # pandas DataFrame
v = loopml.datasets.from_feedback("iris-api")            # served predictions + labels
report = loopml.datasets.validate("tx", new_frame)      # ValidationReport (report.ok)
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from loopml.core import context
from loopml.core.datasets import DatasetVersion, Schema, ValidationReport
from loopml.core.entities import RunInput
from loopml.data import versions
from loopml.data.diff import DatasetDiff, diff_versions
from loopml.data.manifest import Progress
from loopml.data.readers import to_table
from loopml.data.schema import load_schema_yaml
from loopml.data.validate import validate_table
from loopml.workspace import Workspace

PathLike = str | os.PathLike[str]


FRAME_KINDS = ("pandas", "polars", "arrow")


def _ws(workspace: Workspace | None, *, create: bool = False) -> Workspace:
    return workspace or Workspace.current(create=create)


@dataclasses.dataclass(frozen=True, slots=True)
class DatasetLineage:
    version: DatasetVersion
    producer_run_id: str | None
    consumer_run_ids: tuple[str, ...]


def add(
    name: str,
    path: PathLike,
    *,
    workspace: Workspace | None = None,
    progress: Progress | None = None,
) -> DatasetVersion:
    """Version a file or folder. Identical content to the latest version adds nothing
    (`created` is False); inside a run, the run is recorded as the producer."""
    ws = _ws(workspace, create=True)
    return versions.add_version(
        ws, name, Path(path), producer_run_id=context.current_run_id(), progress=progress
    )


def from_feedback(
    deployment: str,
    name: str | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    labelled_only: bool = True,
    include_shadow: bool = False,
    workspace: Workspace | None = None,
) -> DatasetVersion:
    """A deployment's served predictions in [since, until) with their /feedback labels, as a
    version of `name` (default "DEPLOYMENT-feedback"): a row per prediction, a column per
    feature, then `prediction`, `proba_<class>` (when the model gave probabilities), `label`,
    and `prediction_id`, `predicted_at`, `labeled_at`, `model`, `model_version`, `route`.
    Only labelled predictions unless `labelled_only=False`; shadow answers (never returned)
    only with `include_shadow`. The same rows make no new version (`created` is False); no
    prediction in the window is a NotFoundError naming the deployment and the window."""
    from loopml.data import feedback

    made = feedback.build(
        _ws(workspace, create=True), deployment, name, since=since, until=until,
        labelled_only=labelled_only, include_shadow=include_shadow,
    )  # fmt: skip
    return made.version


def get(
    name: str, version: int | str = "latest", *, workspace: Workspace | None = None
) -> DatasetVersion:
    """A version's record, with its statistics profile."""
    ws = _ws(workspace)
    record = ws.store.datasets.get_version(name, version)
    return dataclasses.replace(record, profile=versions.read_profile(ws.artifacts, record))


def delete(name: str, version: int, *, workspace: Workspace | None = None) -> None:
    """Delete one version (audited; its number is never reused). Its files stay in the
    artifact store until `loopml gc` finds nothing else refers to them."""
    from loopml.core.auth import local_actor

    _ws(workspace).store.datasets.delete_version(name, version, actor=local_actor())


def versions_of(name: str, *, workspace: Workspace | None = None) -> list[DatasetVersion]:
    return _ws(workspace).store.datasets.list_versions(name)


def list_datasets(*, workspace: Workspace | None = None) -> list[DatasetVersion]:
    """The latest version of every dataset."""
    return _ws(workspace).store.datasets.list_latest()


def load(
    name: str,
    version: int | str = "latest",
    *,
    frame: str = "pandas",
    workspace: Workspace | None = None,
) -> Any:
    """A tabular version as a DataFrame (`frame`: "pandas", "polars" or "arrow" for a
    pyarrow Table), every file verified by digest. Inside a run (a step, say), the version is
    recorded as the run's input."""
    if frame not in FRAME_KINDS:
        from loopml.core.errors import InvalidArgumentError

        raise InvalidArgumentError(f"frame must be one of {', '.join(FRAME_KINDS)}, got {frame!r}")
    ws = _ws(workspace)
    record = ws.store.datasets.get_version(name, version)
    table = versions.load_table(ws.artifacts, record)
    _record_input(ws, record)
    if frame == "arrow":
        return table
    if frame == "polars":
        import polars

        return polars.from_arrow(table)
    return table.to_pandas()


def _record_input(ws: Workspace, record: DatasetVersion) -> None:
    run_id = context.current_run_id()
    if run_id is not None:
        run_input = RunInput("dataset", record.name, str(record.version), record.digest)
        ws.store.runs.add_input(run_id, run_input)


def download(
    name: str,
    dest: PathLike,
    version: int | str = "latest",
    *,
    workspace: Workspace | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write a version's files under `dest`, verified; paths that would escape are refused."""
    ws = _ws(workspace)
    record = ws.store.datasets.get_version(name, version)
    path = versions.write_out(ws.artifacts, record, Path(dest), progress)
    _record_input(ws, record)
    return path


def validate(
    name: str,
    data: Any,
    version: int | str = "latest",
    *,
    schema: Schema | PathLike | None = None,
    workspace: Workspace | None = None,
) -> ValidationReport:
    """Check a frame, table or file against a version's schema (or a pinned YAML schema)."""
    ws = _ws(workspace)
    record = ws.store.datasets.get_version(name, version)
    if schema is None:
        schema = record.schema
    elif not isinstance(schema, Schema):
        schema = load_schema_yaml(Path(schema))
    if schema is None:
        from loopml.core.errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"dataset {name} v{record.version} has no schema (it is not tabular)"
        )
    table = to_table(Path(data) if isinstance(data, str | os.PathLike) else data)
    return validate_table(table, schema, dataset=name, version=record.version)


def diff(
    name: str, old: int | str, new: int | str = "latest", *, workspace: Workspace | None = None
) -> DatasetDiff:
    ws = _ws(workspace)
    return diff_versions(ws, get(name, old, workspace=ws), get(name, new, workspace=ws))


def lineage(
    name: str, version: int | str = "latest", *, workspace: Workspace | None = None
) -> DatasetLineage:
    """Who produced a version and which runs used it."""
    ws = _ws(workspace)
    record = ws.store.datasets.get_version(name, version)
    consumers = ws.store.datasets.consumers(name, record.version)
    return DatasetLineage(record, record.producer_run_id, tuple(consumers))


def produced_by(run_id: str, *, workspace: Workspace | None = None) -> list[DatasetVersion]:
    return _ws(workspace).store.datasets.produced_by(run_id)


def used_by(run_id: str, *, workspace: Workspace | None = None) -> list[DatasetVersion]:
    """The dataset versions a run recorded as inputs."""
    ws = _ws(workspace)
    return [
        ws.store.datasets.get_version(i.name, int(i.version))
        for i in ws.store.runs.inputs(run_id)
        if i.kind == "dataset" and i.version.isdigit()
    ]
