"""Open Inference Protocol v2 (KServe, Triton, MLServer) over REST: inference requests read
into the model's frame, answers written as tensors, model and server metadata.

Follows the protocol's text (github.com/kserve/open-inference-protocol,
specification/protocol/inference_rest.md); tests/serving/oip_schemas holds its objects as
JSON Schema, and every /v2 answer in the tests is checked against them. Where the text is
stricter than common servers, this follows the text:

- An input needs `name`, `shape`, `datatype` and `data`; the data (nested in the tensor's
  shape, or flat in row-major order) must hold exactly the elements its shape says, of its
  datatype (see DATATYPES). A request that breaks the protocol is a 400; one the model cannot
  take (a missing column, a null in a numeric column) a 422, as on /predict.
- A parameter's value is a string, a number or a boolean (the gRPC form cannot carry
  anything else): the response's `prediction_ids` and the probability tensor's `classes`
  are lists sent as their JSON text.
- An error body is `{"error": "<message>"}` and nothing else (/predict adds fields).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from loopml.registry.loaded import LoadedModel, Scores
from loopml.serving.protocol import RequestError, to_list

# The protocol's tensor data types, as numpy holds them (BYTES: Python strings).
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(bool),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_NAMES = {dtype: name for name, dtype in DATATYPES.items() if name != "BYTES"}
_SIGNATURE_TYPES = {"integer": "INT64", "float": "FP64", "boolean": "BOOL", "string": "BYTES"}
PREDICT, PROBA = "predict", "predict_proba"
SERVER_NAME = "loopml"


@dataclasses.dataclass(frozen=True)
class InferRequest:
    id: str | None
    frame: pd.DataFrame
    outputs: tuple[str, ...] | None  # the outputs asked for, in order; None: all


def server_metadata(version: str) -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": version, "extensions": []}


def infer_request(document: Any, model: LoadedModel) -> InferRequest:
    """The request's id, inputs as the model's frame, and the outputs it asks for."""
    if not isinstance(document, dict):
        raise RequestError(400, 'expected an inference request {"inputs": [...], ...}')
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(400, "the request id must be a string")
    _parameters(document.get("parameters"), "the request's parameters")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, 'expected "inputs": [{"name", "shape", "datatype", "data"}, ...]')
    tensors: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(inputs):
        name, values = _input(tensor, index)
        if name in tensors:
            raise RequestError(400, f"input {name!r} is given twice")
        tensors[name] = values
    outputs = _requested(document.get("outputs"), model)
    return InferRequest(request_id, _frame(tensors, model), outputs)


def _parameters(value: Any, what: str) -> None:
    """Parameters are an object of name: string, number or boolean (absent is fine)."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise RequestError(400, f"{what} must be an object of name: value")
    for name, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise RequestError(400, f"{what}: {name[:100]!r} must be a string, a number or a "
                               "boolean")  # fmt: skip


def _input(tensor: Any, index: int) -> tuple[str, np.ndarray]:
    if not isinstance(tensor, dict):
        raise RequestError(400, f"input {index} must be an object")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise RequestError(400, f"input {index} needs a name (a string)")
    label = f"input {name[:100]!r}"
    missing = [key for key in ("shape", "datatype", "data") if key not in tensor]
    if missing:
        raise RequestError(400, f"{label} needs {', '.join(missing)}")
    shape, datatype, data = tensor["shape"], tensor["datatype"], tensor["data"]
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise RequestError(400, f"{label}: shape must be a list of integers of at least 0")
    if datatype not in DATATYPES:
        raise RequestError(400, f"{label}: datatype {str(datatype)[:40]!r} is not one of "
                           f"{', '.join(DATATYPES)}")  # fmt: skip
    _parameters(tensor.get("parameters"), f"{label}'s parameters")
    if not isinstance(data, list):
        raise RequestError(400, f"{label}: data must be an array")
    try:
        values = np.asarray(data)
    except (ValueError, TypeError):  # ragged lists
        message = f"{label}: data is not a tensor (rows of unequal length?)"
        raise RequestError(400, message) from None
    if values.ndim > 1 and list(values.shape) != shape:
        raise RequestError(400, f"{label}: data of shape {list(values.shape)} does not fit "
                           f"shape {shape}")  # fmt: skip
    if values.size != math.prod(shape):
        raise RequestError(400, f"{label}: {values.size} values do not fit shape {shape} "
                           f"({math.prod(shape)} values)")  # fmt: skip
    return name, _typed(values, datatype, label).reshape(shape)


def _typed(values: np.ndarray, datatype: str, label: str) -> np.ndarray:
    """The values as `datatype`; an element of another JSON type is a 400 (numbers are not
    read from strings, nor integers from floats); null passes in FP* and BYTES data, where
    the model's input check decides (a numeric column refuses it with a 422)."""
    kind, dtype = values.dtype.kind, DATATYPES[datatype]
    if values.size == 0:
        return values.astype(dtype)
    if datatype == "BOOL":
        if kind != "b":
            raise RequestError(400, f"{label}: BOOL data must be true or false")
        return values
    if dtype.kind in "iu":
        if kind not in "iu":
            raise RequestError(400, f"{label}: {datatype} data must be integers")
        info = np.iinfo(dtype)
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise RequestError(400, f"{label}: a value is out of {datatype}'s range "
                               f"[{info.min}, {info.max}]")  # fmt: skip
        return values.astype(dtype)
    if dtype.kind == "f":
        if kind == "O" and all(v is None or type(v) in (int, float) for v in values.flat):
            values = values.astype(np.float64)  # null as NaN
        elif kind not in "iuf":
            raise RequestError(400, f"{label}: {datatype} data must be numbers")
        with np.errstate(over="ignore", invalid="ignore"):
            cast = values.astype(dtype)
            overflow = dtype.itemsize < 8 and (np.isfinite(values) & ~np.isfinite(cast)).any()
            if overflow:
                raise RequestError(400, f"{label}: a value is out of {datatype}'s range")
        return cast
    if kind == "U" or (kind == "O" and all(v is None or type(v) is str for v in values.flat)):
        return values.astype(object)
    raise RequestError(400, f"{label}: BYTES data must be strings")


def _frame(tensors: dict[str, np.ndarray], model: LoadedModel) -> pd.DataFrame:
    """One tensor per column ([n] or [n, 1]), or a single [n, k] tensor: the columns of the
    model's signature in order (without a signature, columns "0" to "k-1")."""
    if len(tensors) == 1:
        ((name, values),) = tensors.items()
        if values.ndim == 2 and values.shape[1] != 1:
            signature = model.version.signature
            names = signature.columns if signature is not None else None
            if names is None:
                names = [str(i) for i in range(values.shape[1])]
            elif values.shape[1] != len(names):
                raise RequestError(422, f"input has {values.shape[1]} columns, the model takes "
                                   f"{len(names)}: {', '.join(names)}")  # fmt: skip
            return _rows(pd.DataFrame(values, columns=names))
    columns: dict[str, np.ndarray] = {}
    for name, values in tensors.items():
        if values.ndim not in (1, 2) or (values.ndim == 2 and values.shape[1] != 1):
            raise RequestError(400, f"input {name[:100]!r} has shape {list(values.shape)}: one "
                               "column is [n] or [n, 1]; one [n, k] tensor alone is the "
                               "whole input")  # fmt: skip
        columns[name] = values.ravel()
    if len({len(v) for v in columns.values()}) > 1:
        lengths = ", ".join(f"{k[:40]!r}: {len(v)}" for k, v in columns.items())
        raise RequestError(400, f"input tensors differ in length ({lengths})")
    return _rows(pd.DataFrame(columns))


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        raise RequestError(422, "the inputs hold no rows to predict")
    return frame


def _requested(value: Any, model: LoadedModel) -> tuple[str, ...] | None:
    """The names of the outputs asked for (None: all); an unknown name is a 400."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise RequestError(400, 'expected "outputs": [{"name": ...}, ...]')
    available = [o["name"] for o in output_metadata(model)]
    names: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise RequestError(400, f"requested output {index} needs a name (a string)")
        name = item["name"]
        _parameters(item.get("parameters"), f"output {name[:100]!r}'s parameters")
        if name not in available:
            raise RequestError(400, f"no output {name[:100]!r}: this model has "
                               f"{', '.join(available)}")  # fmt: skip
        if name not in names:
            names.append(name)
    return tuple(names) or None


def infer_response(
    scores: Scores, model: LoadedModel, ids: list[str], request: InferRequest
) -> dict[str, Any]:
    """The predictions as tensor `predict`; a classifier's probabilities as tensor
    `predict_proba` (rows x classes, the classes in its parameters); only the outputs asked
    for. The prediction ids (for /feedback) are in the response's parameters."""
    outputs = {PREDICT: _tensor(PREDICT, np.asarray(scores.predictions))}
    if scores.probabilities is not None:
        proba = _tensor(PROBA, scores.probabilities)
        proba["parameters"] = {"classes": json.dumps(list(scores.classes))}
        outputs[PROBA] = proba
    names = request.outputs if request.outputs is not None else tuple(outputs)
    body: dict[str, Any] = {
        "model_name": model.version.name,
        "model_version": str(model.version.version),
    }
    if request.id is not None:
        body["id"] = request.id
    body["parameters"] = {"prediction_ids": json.dumps(ids)}
    body["outputs"] = [outputs[name] for name in names if name in outputs]
    return body


def _tensor(name: str, values: np.ndarray) -> dict[str, Any]:
    return {
        "name": name,
        "shape": list(values.shape),
        "datatype": _datatype(values),
        "data": to_list(values.ravel()),
    }


def _datatype(values: np.ndarray) -> str:
    name = _NAMES.get(values.dtype)
    if name is not None:
        return name
    if values.dtype.kind != "O":
        return "BYTES"
    kinds = {type(v) for v in values.flat} - {type(None)}
    if kinds <= {bool} and kinds:
        return "BOOL"
    if kinds <= {int} and kinds:
        return "INT64"
    if kinds <= {int, float} and kinds:
        return "FP64"
    return "BYTES"


def model_metadata(model: LoadedModel, name: str, versions: list[str]) -> dict[str, Any]:
    """`versions`: the ones this server answers for under /versions/{version}."""
    signature = model.version.signature
    inputs = [] if signature is None else [
        {"name": c.name, "datatype": _SIGNATURE_TYPES.get(c.type, "BYTES"), "shape": [-1]}
        for c in signature.inputs
    ]  # fmt: skip
    return {
        "name": name,
        "versions": versions,
        "platform": f"loopml_{model.version.flavor}",
        "inputs": inputs,
        "outputs": output_metadata(model),
    }


def output_metadata(model: LoadedModel) -> list[dict[str, Any]]:
    signature = model.version.signature
    kind = signature.output if signature is not None else None
    outputs = [{"name": PREDICT, "datatype": _SIGNATURE_TYPES.get(kind or "", "BYTES"),
                "shape": [-1]}]  # fmt: skip
    if hasattr(model.model, "predict_proba"):
        outputs.append({"name": PROBA, "datatype": "FP64", "shape": [-1, -1]})
    return outputs


def error_body(error: RequestError) -> dict[str, str]:
    """The protocol's error object: the message alone (an error id goes into it)."""
    error_id = error.details.get("error_id")
    return {"error": f"{error.message} (error id {error_id})" if error_id else error.message}
