"""Lineage across datasets, pipeline runs, step runs and artifacts, both directions."""

from __future__ import annotations

import pandas as pd
import pytest

import loopml
from loopml.pipelines.lineage import LineageNode


@loopml.step
def ingest(name: str, version: int) -> pd.DataFrame:
    return loopml.datasets.load(name, version)


@loopml.step
def mean(frame: pd.DataFrame) -> float:
    return float(frame["x"].mean())


@loopml.pipeline
def stats(version: int):
    mean(ingest("numbers", version))


@pytest.fixture
def ran(workspace, tmp_path):
    csv = tmp_path / "numbers.csv"
    csv.write_text("x\n1\n2\n3\n")
    dataset = loopml.datasets.add("numbers", csv, workspace=workspace)
    result = stats.run(version=dataset.version, workspace=workspace)
    return workspace, dataset, result


def _find(root: LineageNode, kind: str) -> list[LineageNode]:
    return [n for n in root.walk() if n.kind == kind]


def test_upstream_of_a_step_reaches_the_dataset(ran) -> None:
    workspace, _, result = ran
    root = loopml.lineage(result.step("mean").run_id, workspace=workspace)
    runs = [n.id for n in _find(root, "run")]
    assert runs == [result.step("mean").run_id, result.step("ingest").run_id]
    (data,) = _find(root, "dataset")
    assert data.id == "numbers@1" and data.relation == "input numbers"
    (artifact,) = _find(root, "artifact")
    assert artifact.id == result.step("ingest").outputs["output"].digest


def test_downstream_of_a_dataset_reaches_the_last_output(ran) -> None:
    workspace, _, result = ran
    root = loopml.lineage("numbers@1", direction="down", workspace=workspace)
    digests = {n.id for n in _find(root, "artifact")}
    assert result.step("mean").outputs["output"].digest in digests
    assert root.label.startswith("dataset numbers@1")


def test_dataset_digest_resolves_to_the_dataset(ran) -> None:
    workspace, dataset, _ = ran
    assert loopml.lineage(dataset.digest, workspace=workspace).id == "numbers@1"


def test_pipeline_run_lists_its_steps_and_cache_hits_stay_leaves(ran) -> None:
    workspace, dataset, first = ran
    second = stats.run(version=dataset.version, workspace=workspace)
    root = loopml.lineage(second.id, workspace=workspace)
    assert [c.relation for c in root.children] == ["step", "step"]
    hits = [n for n in root.walk() if n.relation == "cache hit of"]
    assert {n.id for n in hits} == {s.run_id for s in first.steps}
    assert all(not n.children for n in hits)


def test_unknown_targets_give_clear_errors(workspace) -> None:
    with pytest.raises(loopml.NotFoundError, match="run"):
        loopml.lineage("0" * 32, workspace=workspace)
    with pytest.raises(loopml.NotFoundError, match="no run, artifact or dataset"):
        loopml.lineage("0" * 64, workspace=workspace)
    with pytest.raises(loopml.InvalidArgumentError, match="not a run id"):
        loopml.lineage("what?", workspace=workspace)
    with pytest.raises(loopml.InvalidArgumentError, match="direction"):
        loopml.lineage("0" * 32, direction="sideways", workspace=workspace)


def test_model_version_traces_back_to_the_dataset(ran) -> None:
    from sklearn.dummy import DummyClassifier

    workspace, _, result = ran
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    version = loopml.registry.register(
        "dummy", model, run=result.step("mean").run_id, workspace=workspace
    )
    loopml.registry.set_alias("dummy", "champion", version.version, workspace=workspace)
    root = loopml.lineage("dummy@champion", workspace=workspace)
    assert (root.kind, root.id) == ("model", "dummy/1")
    assert [n.id for n in _find(root, "dataset")] == ["numbers@1"]
    down = loopml.lineage("numbers@1", direction="down", workspace=workspace)
    assert "dummy/1" in [n.id for n in _find(down, "model")]
    assert loopml.lineage("model:dummy/1", workspace=workspace).id == "dummy/1"
