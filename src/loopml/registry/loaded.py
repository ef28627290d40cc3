"""A loaded model version: predictions go through its signature first."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.models import ModelVersion
from loopml.registry.signature import as_array, as_frame, enforce, is_tensor


@dataclasses.dataclass(frozen=True)
class Scores:
    """A model's answers for a batch of rows: its predictions and, for a classifier with
    predict_proba, the probability of each class (columns in the order of `classes`)."""

    predictions: np.ndarray
    probabilities: np.ndarray | None = None
    classes: tuple[str, ...] = ()  # the classes as text (JSON keys), one per column

    def __len__(self) -> int:
        return len(self.predictions)

    def rows(self, start: int, stop: int) -> Scores:
        part = None if self.probabilities is None else self.probabilities[start:stop]
        return Scores(self.predictions[start:stop], part, self.classes)

    def by_class(self) -> list[dict[str, float]] | None:
        """One {class: probability} per row, or None without probabilities."""
        if self.probabilities is None:
            return None
        return [dict(zip(self.classes, map(float, row), strict=True))
                for row in self.probabilities]  # fmt: skip


class LoadedModel:
    def __init__(self, version: ModelVersion, model: Any) -> None:
        self.version = version
        self.model = model  # the library's own object, for anything predict() does not cover

    @property
    def name(self) -> str:
        return self.version.name

    def prepare(self, data: Any) -> Any:
        """The input as the model takes it: signature columns, in order, types checked (or
        a tensor, its dtype and shape checked when the signature records them)."""
        if self.version.signature is None:
            return as_array(data) if is_tensor(data) else as_frame(data)
        return enforce(self.version.signature, data)

    def _model_input(self, prepared: Any) -> Any:
        """A table of flattened rows as the tensor the model takes, when its signature records
        one of more than two dimensions (the rows reshaped, row-major, to its shape)."""
        signature = self.version.signature
        tensor = signature.tensor if signature is not None else None
        if tensor is None or len(tensor.shape) <= 2 or not isinstance(prepared, pd.DataFrame):
            return prepared
        values = prepared.to_numpy(dtype=np.dtype(tensor.dtype))
        return values.reshape(len(values), *tensor.shape[1:])

    def predict(self, data: Any) -> np.ndarray:
        return np.asarray(self.model.predict(self._model_input(self.prepare(data))))

    def predict_proba(self, data: Any) -> np.ndarray:
        method = getattr(self.model, "predict_proba", None)
        if method is None:
            raise AttributeError(f"{self.version.uri} ({self.version.flavor}) has no predict_proba")
        return np.asarray(method(self._model_input(self.prepare(data))))

    def score(self, prepared: Any) -> Scores:
        """Predictions and, when the model has predict_proba, class probabilities, for input
        already `prepare`d. Serving and batch prediction log both."""
        prepared = self._model_input(prepared)
        predictions = np.asarray(self.model.predict(prepared))
        method = getattr(self.model, "predict_proba", None)
        if method is None:
            return Scores(predictions)
        probabilities = np.asarray(method(prepared), dtype=float)
        if probabilities.ndim != 2 or len(probabilities) != len(predictions):
            return Scores(predictions)
        classes = getattr(self.model, "classes_", None)
        if classes is None or len(classes) != probabilities.shape[1]:
            classes = range(probabilities.shape[1])
        return Scores(predictions, probabilities, tuple(_class_key(c) for c in classes))

    def __repr__(self) -> str:
        return f"LoadedModel({self.version.uri!r}, flavor={self.version.flavor!r})"


def _class_key(value: Any) -> str:
    """A class as the text JSON and labels compare by (numpy 1 -> "1", True -> "True")."""
    return str(value.item() if isinstance(value, np.generic) else value)
