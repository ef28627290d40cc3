"""XGBoost (UBJSON), LightGBM (text) and ONNX (protobuf): formats that hold data, not code.

Loading never unpickles anything: the class to rebuild comes from a fixed table here, chosen
by the name kept in the metadata store, and the files are parsed by the library's own reader.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loopml.core.errors import InvalidArgumentError
from loopml.core.extras import require
from loopml.core.frames import as_pandas
from loopml.registry.flavors import Flavor

_XGB_CLASSES = {
    "xgboost.sklearn.XGBClassifier": "XGBClassifier",
    "xgboost.sklearn.XGBRegressor": "XGBRegressor",
    "xgboost.sklearn.XGBRanker": "XGBRanker",
    "xgboost.core.Booster": "Booster",
}


def _qualified(model: Any) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _only_type(trusted_types: Sequence[str], allowed: Sequence[str], flavor: str) -> str:
    if len(trusted_types) != 1 or trusted_types[0] not in allowed:
        raise InvalidArgumentError(
            f"refusing to load a {flavor} model recorded as {list(trusted_types)}: loopml "
            f"rebuilds only {', '.join(allowed)}"
        )
    return trusted_types[0]


class XGBoostFlavor(Flavor):
    name = "xgboost"
    FILE = "model.ubj"

    def accepts(self, model: Any) -> bool:
        return "xgboost" in sys.modules and _qualified(model) in _XGB_CLASSES

    def save(self, model: Any, folder: Path) -> list[str]:
        model.save_model(folder / self.FILE)
        return [_qualified(model)]

    def load(self, folder: Path, trusted_types: Sequence[str]) -> Any:
        xgboost = require("xgboost", "loading an XGBoost model")

        kind = _only_type(trusted_types, list(_XGB_CLASSES), self.name)
        model = getattr(xgboost, _XGB_CLASSES[kind])()
        model.load_model(folder / self.FILE)
        return XGBoostBoosterModel(model) if kind == "xgboost.core.Booster" else model


class XGBoostBoosterModel:
    """A loaded XGBoost Booster (from `xgboost.train`) whose `predict` takes a frame or an
    array, as every loaded model's does, instead of a DMatrix."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, data: Any) -> np.ndarray:
        return np.asarray(self.booster.inplace_predict(data))

    def __getattr__(self, name: str) -> Any:  # the Booster's own methods, e.g. save_model
        if name == "booster":
            raise AttributeError(name)
        return getattr(self.booster, name)


class LightGBMFlavor(Flavor):
    """Saved as LightGBM's text model; scikit-learn wrappers keep their kind and classes in
    a small JSON file so `predict` still returns labels, not scores."""

    name = "lightgbm"
    FILE = "model.txt"
    INFO = "lightgbm.json"
    KINDS = ("lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier",
             "lightgbm.sklearn.LGBMRegressor")  # fmt: skip

    def accepts(self, model: Any) -> bool:
        return "lightgbm" in sys.modules and _qualified(model) in self.KINDS

    def save(self, model: Any, folder: Path) -> list[str]:
        booster = getattr(model, "booster_", model)
        booster.save_model(str(folder / self.FILE))
        classes = getattr(model, "classes_", None)
        info = {"classes": None if classes is None else np.asarray(classes).tolist()}
        (folder / self.INFO).write_text(json.dumps(info))
        return [_qualified(model)]

    def load(self, folder: Path, trusted_types: Sequence[str]) -> Any:
        lightgbm = require("lightgbm", "loading a LightGBM model")

        kind = _only_type(trusted_types, self.KINDS, self.name)
        booster = lightgbm.Booster(model_file=str(folder / self.FILE))
        if kind == "lightgbm.basic.Booster":
            return booster
        info = json.loads((folder / self.INFO).read_text())
        return LightGBMModel(booster, info.get("classes"))


class LightGBMModel:
    """A loaded LightGBM scikit-learn model: `predict` gives labels (classifier) or values."""

    def __init__(self, booster: Any, classes: list[Any] | None) -> None:
        self.booster = booster
        self.classes_ = None if classes is None else np.asarray(classes)

    def predict_proba(self, data: Any) -> np.ndarray:
        scores = np.asarray(self.booster.predict(data))
        return np.column_stack([1 - scores, scores]) if scores.ndim == 1 else scores

    def predict(self, data: Any) -> np.ndarray:
        if self.classes_ is None:
            return np.asarray(self.booster.predict(data))
        return self.classes_[np.argmax(self.predict_proba(data), axis=1)]


class OnnxFlavor(Flavor):
    name = "onnx"
    FILE = "model.onnx"

    def accepts(self, model: Any) -> bool:
        onnx = sys.modules.get("onnx")
        return onnx is not None and isinstance(model, onnx.ModelProto)

    def save(self, model: Any, folder: Path) -> list[str]:
        (folder / self.FILE).write_bytes(model.SerializeToString())
        return ["onnx.ModelProto"]

    def load(self, folder: Path, trusted_types: Sequence[str]) -> Any:
        onnxruntime = require("onnxruntime", "loading an ONNX model")

        _only_type(trusted_types, ["onnx.ModelProto"], self.name)
        session = onnxruntime.InferenceSession(
            str(folder / self.FILE), providers=["CPUExecutionProvider"]
        )
        return OnnxModel(session)


class OnnxModel:
    """Runs an ONNX graph: one input takes the columns as a float32 matrix; several inputs
    are fed the columns of the same names."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.inputs = [i.name for i in session.get_inputs()]

    def predict(self, data: Any) -> np.ndarray:
        import pandas as pd

        data = as_pandas(data)
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        if len(self.inputs) == 1:
            feed = {self.inputs[0]: frame.to_numpy(dtype=np.float32)}
        else:
            feed = {name: frame[[name]].to_numpy() for name in self.inputs}
        return np.asarray(self.session.run(None, feed)[0]).ravel()
