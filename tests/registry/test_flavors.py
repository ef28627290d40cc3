"""Each flavor round-trips its models, and no flavor's default load runs a planted payload."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml
from loopml.artifacts import objects
from loopml.core.errors import InvalidArgumentError
from tests.registry.payloads import Payload

DATA = load_breast_cancer(as_frame=True)
X = DATA.data.iloc[:, :6].rename(columns=lambda c: c.replace(" ", "_"))
Y = DATA.target


def _sklearn() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, Y)


def _forest() -> Any:
    return RandomForestClassifier(n_estimators=10, random_state=0).fit(X, Y)


def _xgboost() -> Any:
    xgboost = pytest.importorskip("xgboost", reason="the flavors extra is not installed")
    return xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(X, Y)


def _lightgbm() -> Any:
    lightgbm = pytest.importorskip("lightgbm", reason="the flavors extra is not installed")
    return lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, Y)


def _onnx() -> Any:
    skl2onnx = pytest.importorskip("skl2onnx", reason="skl2onnx (dev extra) is not installed")
    from skl2onnx.common.data_types import FloatTensorType

    model = LogisticRegression(max_iter=500).fit(X.to_numpy(np.float32), Y)
    return skl2onnx.convert_sklearn(
        model, initial_types=[("input", FloatTensorType([None, X.shape[1]]))],
        options={id(model): {"zipmap": False}},
    )  # fmt: skip


MODELS = {
    "sklearn": _sklearn,
    "sklearn-forest": _forest,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "onnx": _onnx,
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_round_trip_predicts_the_same(workspace, kind: str) -> None:
    model = MODELS[kind]()
    version = loopml.registry.register("m", model, input_example=X.head(), workspace=workspace)
    assert version.flavor == kind.split("-")[0]
    loaded = loopml.registry.load("m/1", workspace=workspace)
    expected = model.predict(X) if hasattr(model, "predict") else None
    got = loaded.predict(X)
    if expected is not None:
        np.testing.assert_array_equal(got, expected)
    else:  # ONNX: the graph's labels agree with the model it was converted from
        assert (got == LogisticRegression(max_iter=500).fit(X, Y).predict(X)).mean() > 0.95


FILES = {
    "sklearn": "model.skops",
    "xgboost": "model.ubj",
    "lightgbm": "model.txt",
    "onnx": "model.onnx",
    "python": "model.cloudpickle",
}


@pytest.mark.parametrize("flavor", list(FILES))
def test_planted_pickle_is_never_executed(workspace, tmp_path: Path, flavor: str) -> None:
    """A version whose files were swapped for a pickle payload (by someone able to write
    records and blobs): the default load refuses it and the payload never runs."""
    marker = tmp_path / "marker"
    folder = tmp_path / "planted"
    folder.mkdir()
    (folder / FILES[flavor]).write_bytes(pickle.dumps(Payload(marker)))
    stored = objects.store(workspace.artifacts, folder)
    trusted = {"xgboost": ["xgboost.sklearn.XGBClassifier"], "onnx": ["onnx.ModelProto"],
               "lightgbm": ["lightgbm.sklearn.LGBMClassifier"], "python": ["x.Model"],
               "sklearn": ["sklearn.tree._tree.Tree"]}[flavor]  # fmt: skip
    if flavor in ("xgboost", "lightgbm", "onnx"):
        pytest.importorskip({"onnx": "onnxruntime"}.get(flavor, flavor))
    workspace.store.models.create_version(
        "planted", flavor=flavor, digest=stored.digest, size=stored.size, trusted_types=trusted
    )
    with pytest.raises(InvalidArgumentError):
        loopml.registry.load("planted/1", workspace=workspace)
    assert not marker.exists()


class Marker:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __setstate__(self, state: dict) -> None:
        Path(state["marker"]).write_text("executed")


def test_skops_file_with_types_unknown_at_registration_is_refused(workspace, tmp_path) -> None:
    import skops.io

    marker = tmp_path / "marker"
    benign = loopml.registry.register("m", _forest(), workspace=workspace)
    crafted = _forest()
    crafted.extra = Marker(str(marker))
    folder = tmp_path / "crafted"
    folder.mkdir()
    skops.io.dump(crafted, folder / "model.skops")
    stored = objects.store(workspace.artifacts, folder)
    workspace.store.models.create_version(
        "m", flavor="sklearn", digest=stored.digest, size=stored.size,
        trusted_types=benign.trusted_types,
    )  # fmt: skip
    with pytest.raises(InvalidArgumentError, match="were not in it when it was registered"):
        loopml.registry.load("m/2", workspace=workspace)
    assert not marker.exists()


def test_sklearn_model_with_foreign_types_needs_trust(workspace) -> None:
    model = _forest()
    model.extra = Marker("unused")
    with pytest.raises(InvalidArgumentError, match=r"does not vet.*Marker.*trust=True"):
        loopml.registry.register("m", model, workspace=workspace)
    loopml.registry.register("m", model, trust=True, workspace=workspace)
    with pytest.raises(InvalidArgumentError, match="trust=True"):
        loopml.registry.load("m/1", workspace=workspace)


def test_signature_is_enforced_on_predict(workspace) -> None:
    loopml.registry.register("m", _sklearn(), input_example=X.head(), workspace=workspace)
    loaded = loopml.registry.load("m@latest", workspace=workspace)
    shuffled = X[list(reversed(X.columns))].assign(extra=1)
    np.testing.assert_array_equal(loaded.predict(shuffled), loaded.predict(X))
    with pytest.raises(InvalidArgumentError, match=f"missing column '{X.columns[0]}'"):
        loaded.predict(X.drop(columns=[X.columns[0]]))
    text = X.astype({X.columns[1]: str})
    with pytest.raises(InvalidArgumentError, match=f"'{X.columns[1]}' is string.*float"):
        loaded.predict(text)
    as_int = X.head().round().astype({X.columns[2]: "int64"})
    assert len(loaded.predict(as_int)) == 5  # int to float is lossless
    records = X.head(3).to_dict("records")
    assert len(loaded.predict(records)) == 3
    assert isinstance(loaded.predict(pd.DataFrame(records)), np.ndarray)
