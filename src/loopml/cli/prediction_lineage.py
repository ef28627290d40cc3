"""Provenance of one prediction: prediction -> model version -> training run -> pipeline run
-> dataset versions -> code commit. The model half is `model_lineage`; this adds the
prediction on top and draws the chain as a tree."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from rich.markup import escape
from rich.tree import Tree

from loopml.cli.model_lineage import ModelLineage, RunSummary, model_lineage
from loopml.cli.output import STATUS_STYLE
from loopml.core.errors import NotFoundError
from loopml.core.serving import Prediction

MAX_VALUE_CHARS = 200


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    name: str
    version: int
    flavor: str
    aliases: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PredictionLineage:
    prediction: Prediction
    model_version: ModelSummary | None  # None when the version is gone from the registry
    lineage: ModelLineage | None


def prediction_lineage(workspace: Any, prediction_id: str) -> PredictionLineage:
    """Where a logged prediction came from; NotFoundError naming the id when unknown."""
    return _lineage_of(workspace, workspace.store.predictions.get(prediction_id))


def find_prediction_lineage(workspace: Any, target: str) -> PredictionLineage | None:
    """The lineage of `target` when it is a logged prediction's id, else None."""
    try:
        prediction = workspace.store.predictions.get(target)
    except NotFoundError:
        return None
    return _lineage_of(workspace, prediction)


def _lineage_of(workspace: Any, prediction: Prediction) -> PredictionLineage:
    try:
        version = workspace.store.models.get_version(prediction.model, prediction.version)
    except NotFoundError:
        return PredictionLineage(prediction, None, None)
    summary = ModelSummary(version.name, version.version, version.flavor, version.aliases)
    return PredictionLineage(prediction, summary, model_lineage(workspace, version))


def lineage_tree(found: PredictionLineage) -> Tree:
    p = found.prediction
    tree = Tree(f"[bold]prediction {p.id}[/]")
    when = f"{p.time:%Y-%m-%d %H:%M:%S} UTC"
    tree.add(
        f"deployment {escape(p.deployment)}, route {p.route.value}, {when}, {p.latency_ms:.1f} ms"
    )
    tree.add(f"features {_value(dict(p.features))}")
    tree.add(f"output {_value(p.output)}")
    if p.labeled_time is not None:
        tree.add(f"label {_value(p.label)} [dim](at {p.labeled_time:%Y-%m-%d %H:%M:%S} UTC)[/]")
    model = found.model_version
    uri = f"{p.model}/{p.version}"
    if model is None:
        tree.add(f"model version {escape(uri)} [dim](no longer in the registry)[/]")
        return tree
    aliases = f" @{', @'.join(model.aliases)}" if model.aliases else ""
    branch = tree.add(f"model version [bold]{escape(uri)}[/] ({model.flavor}{aliases})")
    if found.lineage is not None:
        _grow(branch, found.lineage)
    return tree


def _grow(branch: Tree, lineage: ModelLineage) -> None:
    if lineage.run is None:
        gone = f"{lineage.run_id} (deleted)" if lineage.run_id else "none (registered outside)"
        branch.add(f"training run {gone}")
        return
    branch = branch.add(_run_label("training run", lineage.run))
    if lineage.pipeline_run is not None and lineage.pipeline_run.id != lineage.run.id:
        branch = branch.add(_run_label("pipeline run", lineage.pipeline_run))
    for d in lineage.datasets:
        branch.add(f"dataset {escape(d.name)}@{d.version} [dim]digest[/] {d.digest}")
    if not lineage.datasets:
        branch.add("[dim]no dataset versions recorded upstream[/]")
    dirty = f" + uncommitted diff {lineage.diff_digest}" if lineage.diff_digest else ""
    branch.add(f"code commit {lineage.commit or '[dim]none recorded[/]'}{dirty}")


def _run_label(title: str, run: RunSummary) -> str:
    style = STATUS_STYLE.get(run.status, "")
    return f"{title} {run.id} {escape(run.name)} [{style}]{run.status}[/] ({escape(run.project)})"


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 3] + "..."
    return escape(text)
