"""`runs:/RUN_ID/model`: the model a run logged, loaded, registered and used for batch
prediction like a registered version, under the same trust rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import loopml
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.workspace import Workspace
from tests.cli.test_cli import cli


def _shift(values: np.ndarray) -> np.ndarray:  # a function of ours: a type loopml does not vet
    return values + 1.0


@pytest.fixture
def logged(workspace: Workspace) -> Iterator[tuple[str, pd.DataFrame, LogisticRegression]]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    target = (frame["a"] > 0).astype(int)
    loopml.autolog()
    try:
        with loopml.start_run(project="p") as run:
            model = LogisticRegression().fit(frame, target)
    finally:
        loopml.autolog(disable=True)
    yield run.id, frame, model


def test_load_from_run(logged: tuple[str, pd.DataFrame, LogisticRegression]) -> None:
    run_id, frame, model = logged
    loaded = loopml.registry.load(f"runs:/{run_id}/model")
    assert list(loaded.predict(frame)) == list(model.predict(frame))
    assert loaded.version.run_id == run_id and loaded.version.version == 0


def test_register_from_run(logged: tuple[str, pd.DataFrame, LogisticRegression]) -> None:
    run_id, frame, model = logged
    version = loopml.registry.register("clf", f"runs:/{run_id}/model", metrics={"acc": 0.9})
    assert (version.version, version.run_id, version.flavor) == (1, run_id, "sklearn")
    assert version.signature is not None
    assert list(loopml.registry.load("clf/1").predict(frame)) == list(model.predict(frame))


def test_bad_run_references(logged: tuple[str, pd.DataFrame, LogisticRegression]) -> None:
    run_id, _, _ = logged
    with pytest.raises(NotFoundError, match=r"f{32}"):
        loopml.registry.load(f"runs:/{'f' * 32}/model")
    with pytest.raises(NotFoundError, match="nothing"):
        loopml.registry.load(f"runs:/{run_id}/nothing")
    with pytest.raises(InvalidArgumentError, match="not a model"):
        loopml.registry.load(f"runs:/{run_id}/model.input_example")
    with pytest.raises(InvalidArgumentError, match="runs:/RUN_ID/ARTIFACT"):
        loopml.registry.load("runs:/")


def test_trust_rules_apply(workspace: Workspace) -> None:
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    unvetted = make_pipeline(FunctionTransformer(_shift), LogisticRegression())
    loopml.autolog()
    try:
        with loopml.start_run(project="p") as run:
            unvetted.fit(frame, [0, 0, 1, 1])
    finally:
        loopml.autolog(disable=True)
    ref = f"runs:/{run.id}/model"
    if not any(a.name == "model" for a in workspace.store.runs.artifacts(run.id)):
        pytest.skip("autolog logged no model for an unvetted pipeline")
    with pytest.raises(InvalidArgumentError, match="trust"):
        loopml.registry.load(ref)
    with pytest.raises(InvalidArgumentError, match="trust"):
        loopml.registry.register("risky", ref)
    assert len(loopml.registry.load(ref, trust=True).predict(frame)) == 4


def test_predict_cli_from_run(
    logged: tuple[str, pd.DataFrame, LogisticRegression], tmp_path: Path
) -> None:
    run_id, frame, model = logged
    frame.to_parquet(tmp_path / "in.parquet")
    result = cli("predict", f"runs:/{run_id}/model", "--input", "in.parquet", "--output",
                 "out.parquet", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out["prediction"]) == list(model.predict(frame))
