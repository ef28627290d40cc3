"""Keras 3 models in the `.keras` format, loaded with `safe_mode=True`.

A `.keras` file is a zip of JSON (the model's config) and weights (HDF5, or `.npz` read with
`allow_pickle=False`). With `safe_mode=True` Keras refuses lambda layers (marshalled
bytecode), imports only modules of the keras family, and finds any other class only among
the custom objects already registered in the process. loopml records every class the config
names ("module:Class"); keras' own load without trust, any other one (a custom layer of
yours) is risky: its loading needs trust=True, which also imports its module so that its
`register_keras_serializable` runs. A file whose config names a class the record does not is
refused.

Keras picks its backend when first imported: loopml sets KERAS_BACKEND=torch then, unless
it is set already (the torch extra brings the backend; TensorFlow is not needed).

Rows to inputs: a frame becomes a float32 matrix; arrays go in as they are. Outputs as in
the PyTorch flavor (`task`, `classes`), except that `logits` defaults to False here: a
Keras classifier usually ends in a softmax.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loopml.core.errors import InvalidArgumentError
from loopml.registry.flavors import Flavor
from loopml.registry.flavors.pytorch import TASKS, class_probabilities
from loopml.registry.signature import as_array

FILE = "model.keras"
META = "keras.json"
KERAS_PACKAGES = ("keras", "keras_hub", "keras_cv", "keras_nlp")


def import_keras() -> Any:
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    from loopml.core.extras import require

    return require("keras", "Keras models")


class KerasModel:
    """A Keras model as loopml serves it (build one with `loopml.registry.keras_model`)."""

    def __init__(
        self,
        model: Any,
        *,
        task: str = "raw",
        classes: Sequence[Any] | None = None,
        logits: bool = False,
    ) -> None:
        if task not in TASKS:
            raise InvalidArgumentError(f"unknown task {task!r}: use one of {', '.join(TASKS)}")
        if classes is not None and task != "classification":
            raise InvalidArgumentError("classes are for task='classification'")
        self.model, self.task, self.logits = model, task, logits
        self.classes_ = None if classes is None else np.asarray(list(classes))

    def forward(self, data: Any) -> np.ndarray:
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            array = data.to_numpy(dtype=np.float32)
        else:
            array = as_array(data)
            if array.dtype == np.float64:
                array = array.astype(np.float32)
        return np.asarray(self.model.predict(array, verbose=0))

    def predict(self, data: Any) -> np.ndarray:
        output = self.forward(data)
        if self.task == "regression" and output.ndim == 2 and output.shape[1] == 1:
            return output[:, 0]
        return output


class KerasClassifier(KerasModel):
    def predict_proba(self, data: Any) -> np.ndarray:
        return class_probabilities(self.forward(data), self.logits)

    def predict(self, data: Any) -> np.ndarray:
        best = np.argmax(self.predict_proba(data), axis=1)
        return best if self.classes_ is None else self.classes_[best]


def keras_model(
    model: Any,
    *,
    task: str = "raw",
    classes: Sequence[Any] | None = None,
    logits: bool = False,
) -> KerasModel:
    """Wrap a Keras model for `registry.register`: `task` and `classes` as in `torch_model`;
    `logits=True` when a classifier's last layer has no softmax."""
    kind = KerasClassifier if task == "classification" else KerasModel
    return kind(model, task=task, classes=classes, logits=logits)


def _classes(config: Any) -> Iterator[str]:
    """Every class a Keras config names, as "module:Class"."""
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str) and "module" in config:
            yield f"{config['module'] or 'builtins'}:{config['class_name']}"
        for value in config.values():
            yield from _classes(value)
    elif isinstance(config, list):
        for value in config:
            yield from _classes(value)


def _config_classes(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return sorted(set(_classes(json.loads(archive.read("config.json")))))


def _risky(ref: str) -> bool:
    module = ref.split(":", 1)[0]
    return module.split(".", 1)[0] not in (*KERAS_PACKAGES, "builtins")


class KerasFlavor(Flavor):
    name = "keras"

    def accepts(self, model: Any) -> bool:
        keras = sys.modules.get("keras")
        if isinstance(model, KerasModel):
            return True
        return keras is not None and isinstance(model, keras.Model)

    def save(self, model: Any, folder: Path) -> list[str]:
        import_keras()
        wrapped = model if isinstance(model, KerasModel) else KerasModel(model)
        wrapped.model.save(str(folder / FILE))
        named = _config_classes(folder / FILE)
        if any(ref.endswith(":Lambda") for ref in named):
            raise InvalidArgumentError(
                "the model has a Lambda layer (Python bytecode in the file), which Keras' "
                "safe_mode refuses to load: write it as a layer class instead"
            )
        classes = None if wrapped.classes_ is None else wrapped.classes_.tolist()
        meta = {"task": wrapped.task, "classes": classes, "logits": wrapped.logits}
        (folder / META).write_text(json.dumps(meta))
        return named

    def load(self, folder: Path, trusted_types: Sequence[str]) -> Any:
        keras = import_keras()
        named = _config_classes(folder / FILE)
        unknown = sorted(set(named) - set(trusted_types))
        if unknown:
            raise InvalidArgumentError(
                f"refusing to load: the file names classes it was not registered with: "
                f"{', '.join(unknown)}"
            )
        for ref in named:  # trusted by now: registry.load checked risky_types
            if _risky(ref):
                importlib.import_module(ref.split(":", 1)[0])
        model = keras.saving.load_model(str(folder / FILE), safe_mode=True, compile=False)
        meta = json.loads((folder / META).read_text())
        return keras_model(model, task=meta["task"], classes=meta["classes"],
                           logits=meta["logits"])  # fmt: skip

    def risky_types(self, trusted_types: Sequence[str]) -> list[str]:
        return [ref for ref in trusted_types if _risky(ref)]
