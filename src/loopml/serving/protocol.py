"""Request bodies in, response bodies out: `/predict` instances, and the checks every body
goes through (the Open Inference Protocol's tensors are in serving.oip). Every problem is a
RequestError carrying its HTTP status."""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError
from loopml.registry.loaded import LoadedModel, Scores

log = logging.getLogger("loopml.serving")
JSON_TYPES = ("application/json",)
MAX_DEPTH = 32  # levels of [ and { in a request body; /predict needs 3 plus its values'
NUMERIC = frozenset({"integer", "float", "boolean"})
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


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
    """The document; a body nested deeper than MAX_DEPTH is a 400 before it is parsed (the
    parser would recurse once per level, and so would everything after it)."""
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:  # cheap: most bodies stop here
        depth = nesting_depth(body)
        if depth > MAX_DEPTH:
            raise RequestError(400, f"JSON nested too deeply: {depth} levels, at most {MAX_DEPTH}")
    try:
        return json.loads(body)
    except RecursionError:  # not reached after the check above; kept as a backstop
        raise RequestError(400, f"JSON nested too deeply: at most {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"malformed JSON: {exc}") from None


def nesting_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings do
    not count), without recursion: strings cut out, then a running sum over the brackets."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def instances_of(document: Any) -> list[dict[str, Any]]:
    instances = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(instances, list) or not instances:
        raise RequestError(422, 'expected {"instances": [{"column": value, ...}, ...]}')
    if not all(isinstance(row, dict) for row in instances):
        raise RequestError(422, "every instance must be an object of column: value")
    return instances


def prepare(model: LoadedModel, data: Any, *, allow_missing: bool = False) -> pd.DataFrame:
    """The model's input frame; a missing column, a wrong type, or a null, NaN or infinite
    value in a numeric column is a 422 naming it. With `allow_missing`, null and NaN pass
    (for models that take missing values); infinities never do."""
    try:
        frame = model.prepare(data)
    except InvalidArgumentError as exc:
        raise RequestError(422, _null_problem(model, data) or str(exc)) from None
    except (ValueError, TypeError) as exc:  # pandas could not build a frame of this input
        raise RequestError(422, f"cannot read the input as a table: {exc}") from None
    check_finite(frame, model, allow_missing=allow_missing)
    return frame


def check_finite(
    frame: pd.DataFrame, model: LoadedModel | None = None, *, allow_missing: bool = False
) -> None:
    """A 422 naming the first numeric column holding null/NaN (or infinity), and its row."""
    values = frame.to_numpy()  # one array without a copy for the usual all-float frame
    if values.dtype.kind == "f":
        bad = np.isinf(values) if allow_missing else ~np.isfinite(values)
        if bad.any():
            column = int(np.flatnonzero(bad.any(axis=0))[0])
            row = int(np.flatnonzero(bad[:, column])[0])
            _refuse(frame.columns[column], row, values[row, column])
        return
    if values.dtype.kind != "O":  # integers and booleans hold no NaN
        return
    numeric = _numeric_columns(model.version.signature) if model is not None else frozenset()
    for index, dtype in enumerate(frame.dtypes):  # mixed types: column by column
        name = frame.columns[index]
        if dtype.kind == "f":
            column = frame.iloc[:, index].to_numpy()
            bad = np.isinf(column) if allow_missing else ~np.isfinite(column)
        elif dtype.kind == "O" and name in numeric:  # a null makes pandas keep objects
            column = frame.iloc[:, index].to_numpy()
            bad = np.array([_missing_or_infinite(v, allow_missing) for v in column], dtype=bool)
        else:
            continue
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            _refuse(name, row, column[row])


def _missing_or_infinite(value: Any, allow_missing: bool) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return not allow_missing
    return isinstance(value, float) and math.isinf(value)


def _refuse(column: Any, row: int, value: Any) -> None:
    infinite = isinstance(value, float | np.floating) and math.isinf(value)
    what = "an infinite number" if infinite else "null or NaN"
    raise RequestError(422, f"column {str(column)!r} holds {what} (row {row}); the model "
                       "takes a finite number there", column=str(column), row=row)  # fmt: skip


@functools.lru_cache(maxsize=256)
def _numeric_columns(signature: Any) -> frozenset[str]:
    if signature is None:
        return frozenset()
    return frozenset(c.name for c in signature.inputs if c.type in NUMERIC)


def _null_problem(model: LoadedModel, data: Any) -> str | None:
    """When the signature check failed on a null in a numeric column (null makes pandas
    read an integer column as float, a boolean one as objects), say so instead."""
    signature = model.version.signature
    if signature is None:
        return None
    for spec in signature.inputs:
        if spec.type not in NUMERIC:
            continue
        row = None
        if isinstance(data, list):
            row = next((i for i, item in enumerate(data) if isinstance(item, dict)
                        and spec.name in item and item[spec.name] is None), None)  # fmt: skip
        elif isinstance(data, pd.DataFrame) and spec.name in data.columns:
            nulls = np.flatnonzero(data[spec.name].isna().to_numpy())
            row = int(nulls[0]) if len(nulls) else None
        if row is not None:
            return f"column {spec.name!r} holds null (row {row}); the model takes {spec.type} there"
    return None


def to_list(output: Any) -> list[Any]:
    """An array as JSON-ready values; NaN and infinities become null (JSON has neither)."""
    values = np.asarray(output)
    if values.dtype.kind in "fc":
        finite = np.isfinite(values)
        if not finite.all():
            cleaned = values.astype(object)
            cleaned[~finite] = None
            log.warning("model output held %d NaN or infinite value(s): sent as null",
                        int((~finite).sum()))  # fmt: skip
            return cleaned.tolist()
        return values.tolist()
    if values.dtype.kind == "O":
        return [_finite(v) for v in values.tolist()]
    return values.tolist()


def _finite(value: Any, depth: int = 0) -> Any:
    """An object output made JSON-ready: non-finite floats inside it become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth < MAX_DEPTH and isinstance(value, list | tuple):
        return [_finite(v, depth + 1) for v in value]
    if depth < MAX_DEPTH and isinstance(value, dict):
        return {k: _finite(v, depth + 1) for k, v in value.items()}
    return value


def all_finite(rows: list[Any]) -> bool:
    """Whether no value of these row dicts (nested lists and objects included) is a NaN or
    infinite float: the check costs a type test per value."""
    for row in rows:
        for value in row.values():
            kind = value.__class__
            if kind is float:
                if value - value != 0.0:  # NaN for NaN and both infinities
                    return False
            elif (kind is list or kind is dict) and _finite(value) != value:
                return False
    return True


def finite_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row with each NaN or infinite float (nested ones too) as None."""
    return {name: _finite(value) for name, value in row.items()}


def probabilities(scores: Scores) -> list[dict[str, float | None]] | None:
    """One {class: probability} per row, or None; a NaN or infinite probability is null."""
    if scores.probabilities is None:
        return None
    if np.isfinite(scores.probabilities).all():
        return scores.by_class()
    rows = to_list(scores.probabilities)
    return [dict(zip(scores.classes, row, strict=True)) for row in rows]
