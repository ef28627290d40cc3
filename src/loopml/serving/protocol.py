"""Request bodies in, response bodies out: `/predict` instances and Open Inference
Protocol v2 tensors. Every problem is a RequestError carrying its HTTP status."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError
from loopml.registry.loaded import LoadedModel, Scores

JSON_TYPES = ("application/json",)
_V2_TYPES = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64", "O": "BYTES", "U": "BYTES"}


class RequestError(Exception):
    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.details}


def check_content_type(header: str | None) -> None:
    kind = (header or "").split(";", 1)[0].strip().lower()
    if kind not in JSON_TYPES:
        raise RequestError(
            415, f"unsupported content type {kind or '(none)'!r}: send application/json"
        )


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"malformed JSON: {exc}") from None


def instances_of(document: Any) -> list[dict[str, Any]]:
    instances = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(instances, list) or not instances:
        raise RequestError(422, 'expected {"instances": [{"column": value, ...}, ...]}')
    if not all(isinstance(row, dict) for row in instances):
        raise RequestError(422, "every instance must be an object of column: value")
    return instances


def tensors_of(document: Any, model: LoadedModel) -> pd.DataFrame:
    """A v2 inference request as a frame: one tensor per column, or one 2-D tensor."""
    inputs = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(422, 'expected {"inputs": [{"name", "shape", "datatype", "data"}]}')
    columns: dict[str, Any] = {}
    for tensor in inputs:
        if not isinstance(tensor, dict) or "name" not in tensor or "data" not in tensor:
            raise RequestError(422, "every input needs a name and data")
        data = np.asarray(tensor["data"])
        shape = tensor.get("shape") or list(data.shape)
        if len(shape) == 2 and len(inputs) == 1 and model.version.signature is not None:
            names = model.version.signature.columns
            try:
                matrix = data.reshape(shape)
            except ValueError:
                message = f"input {tensor['name']!r}: data does not fit its shape"
                raise RequestError(422, message) from None
            if matrix.shape[1] != len(names):
                raise RequestError(422, f"input has {matrix.shape[1]} columns, the model takes "
                                   f"{len(names)}: {', '.join(names)}")  # fmt: skip
            return pd.DataFrame(matrix, columns=names)
        columns[str(tensor["name"])] = data.ravel()
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise RequestError(422, "input tensors differ in length")
    return pd.DataFrame(columns)


def prepare(model: LoadedModel, data: Any) -> pd.DataFrame:
    """The model's input frame; a missing column or a wrong type is a 422 naming it."""
    try:
        return model.prepare(data)
    except InvalidArgumentError as exc:
        raise RequestError(422, str(exc)) from None


def to_list(output: Any) -> list[Any]:
    return np.asarray(output).tolist()


def v2_output(scores: Scores, model: LoadedModel, ids: list[str], request_id: Any) -> dict:
    """The predictions as tensor `predict`; a classifier's probabilities as tensor
    `predict_proba` (rows x classes, the classes in its parameters)."""
    outputs = [_tensor("predict", np.asarray(scores.predictions))]
    if scores.probabilities is not None:
        proba = _tensor("predict_proba", scores.probabilities)
        outputs.append({**proba, "parameters": {"classes": list(scores.classes)}})
    return {
        "model_name": model.version.name,
        "model_version": str(model.version.version),
        "id": request_id,
        "parameters": {"prediction_ids": ids},
        "outputs": outputs,
    }


def _tensor(name: str, values: np.ndarray) -> dict[str, Any]:
    return {
        "name": name,
        "shape": list(values.shape),
        "datatype": _V2_TYPES.get(values.dtype.kind, "BYTES"),
        "data": values.ravel().tolist(),
    }


def v2_metadata(model: LoadedModel, deployment: str) -> dict[str, Any]:
    signature = model.version.signature
    inputs = [] if signature is None else [
        {"name": c.name, "datatype": _V2_NAMES.get(c.type, "BYTES"), "shape": [-1]}
        for c in signature.inputs
    ]  # fmt: skip
    return {
        "name": deployment,
        "versions": [str(model.version.version)],
        "platform": f"loopml-{model.version.flavor}",
        "inputs": inputs,
        "outputs": _v2_outputs(model),
        "parameters": {"model": model.version.name},
    }


def _v2_outputs(model: LoadedModel) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
    if hasattr(model.model, "predict_proba"):
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]})
    return outputs


_V2_NAMES = {"integer": "INT64", "float": "FP64", "boolean": "BOOL", "string": "BYTES"}
