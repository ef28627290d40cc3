"""Issue 15.9: batch prediction on a real Ray cluster. Its workers were started without this
process's environment (no LOOPML_ARTIFACT_URI, S3 endpoint or keys) and in another folder:
the tasks get the resolved configuration, the S3 options and absolute paths."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.serving.batch import predict_batch
from loopml.workspace import Workspace
from tests.fixtures_ray import RayCluster
from tests.serving.conftest import FEATURES, iris_frame

pytestmark = pytest.mark.slow

KEEP = ["input_file", "input_row", "prediction", "model", "model_version"]


@pytest.fixture
def on_ray(ray_cluster: RayCluster, monkeypatch: pytest.MonkeyPatch) -> RayCluster:
    import ray

    if ray.is_initialized():  # another test's connection: batch prediction makes its own
        ray.shutdown()
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.address)
    return ray_cluster


def _register(ws: Workspace) -> None:
    model = LogisticRegression(max_iter=500).fit(FEATURES, iris_frame()["target"])
    loopml.registry.register("iris", model, input_example=FEATURES.head(), workspace=ws)


def _inputs(folder: Path) -> None:
    """Two files, in the folder given to the driver by a relative path."""
    folder.mkdir()
    FEATURES.iloc[:100].to_parquet(folder / "a.parquet")
    FEATURES.iloc[100:].to_csv(folder / "b.csv", index=False)


def _same_as_local(ws: Workspace, ray_output: Path, tmp_path: Path) -> None:
    local = predict_batch("iris/1", "inputs", tmp_path / "local.parquet", workspace=ws)
    assert local.rows == 150
    expected = pq.read_table(local.output).to_pandas()[KEEP]
    got = pq.read_table(ray_output).to_pandas()[KEEP]
    pd.testing.assert_frame_equal(got, expected)
    assert list(pq.read_table(ray_output).column_names[-3:]) == ["proba_0", "proba_1", "proba_2"]


def test_batch_on_ray_reads_a_model_from_s3_and_a_relative_input(
    on_ray: RayCluster, s3_artifact_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_ARTIFACT_URI", s3_artifact_uri)  # the endpoint and keys: env
    ws = Workspace.init(tmp_path)
    try:
        assert ws.artifacts.uri.startswith("s3://")
        _register(ws)
        _inputs(tmp_path / "inputs")
        result = predict_batch("iris/1", "inputs", "out/preds.parquet", executor="ray",
                               workspace=ws)  # fmt: skip
        assert (result.rows, result.files, result.version) == (150, 2, 1)
        assert (tmp_path / "out" / "preds.parquet").is_file()
        assert not list((tmp_path / "out").glob("loopml-parts-*"))  # the parts are gone
        _same_as_local(ws, tmp_path / "out" / "preds.parquet", tmp_path)
    finally:
        ws.close()


def test_batch_on_ray_with_relative_store_and_artifact_locations(
    on_ray: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_STORE_URI", "sqlite:///meta.db")  # relative to this folder
    monkeypatch.setenv("LOOPML_ARTIFACT_URI", "blobs")
    ws = Workspace.open()
    try:
        _register(ws)
        _inputs(tmp_path / "inputs")
        result = predict_batch("iris/1", "inputs", "preds.parquet", executor="ray", workspace=ws)
        assert result.rows == 150 and (tmp_path / "preds.parquet").is_file()
        assert (tmp_path / "meta.db").is_file() and (tmp_path / "blobs").is_dir()
        _same_as_local(ws, tmp_path / "preds.parquet", tmp_path)
    finally:
        ws.close()
