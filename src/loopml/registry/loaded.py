"""A loaded model version: predictions go through its signature first."""

from __future__ import annotations

from typing import Any

import numpy as np

from loopml.core.models import ModelVersion
from loopml.registry.signature import as_frame, enforce


class LoadedModel:
    def __init__(self, version: ModelVersion, model: Any) -> None:
        self.version = version
        self.model = model  # the library's own object, for anything predict() does not cover

    @property
    def name(self) -> str:
        return self.version.name

    def prepare(self, data: Any) -> Any:
        """The input as the model takes it: signature columns, in order, types checked."""
        if self.version.signature is None:
            return as_frame(data)
        return enforce(self.version.signature, data)

    def predict(self, data: Any) -> np.ndarray:
        return np.asarray(self.model.predict(self.prepare(data)))

    def predict_proba(self, data: Any) -> np.ndarray:
        method = getattr(self.model, "predict_proba", None)
        if method is None:
            raise AttributeError(f"{self.version.uri} ({self.version.flavor}) has no predict_proba")
        return np.asarray(method(self.prepare(data)))

    def __repr__(self) -> str:
        return f"LoadedModel({self.version.uri!r}, flavor={self.version.flavor!r})"
