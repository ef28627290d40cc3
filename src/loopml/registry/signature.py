"""Model signatures: inferred from an input example, enforced on every prediction.

Enforcing means: every signature column must be present (an error names the first missing
one), extra columns are dropped, columns are put in the signature's order, lossless casts
(integer to float, a float column of whole numbers to integer is *not* one) pass, and any
other type mismatch is an error naming the column and both types.

A tensor input (a torch tensor, or a numpy array of other than two dimensions) is recorded as
its dtype and shape with -1 for the batch dimension and, up to MAX_FLAT_COLUMNS values a row,
as columns "0".."k-1" too: a table of flattened rows (row-major) is reshaped into the tensor
by the loaded model, so serving and batch files reach it. An array given to a model with such a
signature is checked against it: the same number of dimensions, every fixed size equal, and
a dtype that casts to the declared one without changing kind (integers and booleans to float,
float64 to float32: JSON carries no float32) or is the declared one.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError
from loopml.core.frames import as_pandas
from loopml.core.models import ColumnSpec, Signature, TensorSpec

_KINDS = {"i": "integer", "u": "integer", "f": "float", "b": "boolean", "M": "datetime"}
# (given, declared) pairs that lose nothing.
_LOSSLESS = {("integer", "float"), ("boolean", "integer"), ("boolean", "float")}


def column_type(series: pd.Series) -> str:
    kind = series.dtype.kind
    if kind in _KINDS:
        return _KINDS[kind]
    if kind in "OSU" or isinstance(series.dtype, pd.StringDtype | pd.CategoricalDtype):
        values = series.dropna()
        if values.empty or values.map(lambda v: isinstance(v, str)).all():
            return "string"
    return "other"


def as_frame(data: Any) -> pd.DataFrame:
    """A DataFrame from a pandas or polars frame, a list of row dicts, a dict of columns, or
    a 2-D array."""
    data = as_pandas(data)
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return pd.DataFrame.from_records(data)
    if isinstance(data, dict):
        return pd.DataFrame(data)
    if isinstance(data, np.ndarray) and data.ndim == 2:
        return pd.DataFrame(data, columns=[str(i) for i in range(data.shape[1])])
    raise InvalidArgumentError(
        f"cannot read model input from a {type(data).__name__}: pass a pandas or polars "
        "DataFrame, a "
        "list of row dicts, a dict of columns or a 2-D numpy array"
    )


# A tensor of at most this many values per row is also a table: columns "0".."k-1" of each
# row's values in row-major order, so that rows, [n, k] inference tensors and files reach it.
MAX_FLAT_COLUMNS = 4096


def infer_signature(example: Any, output: Any = None) -> Signature:
    if is_tensor(example):
        array = as_array(example)
        spec = TensorSpec(array.dtype.name, (-1, *array.shape[1:]))
        rows = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
        if rows.shape[1] > MAX_FLAT_COLUMNS or array.dtype.kind not in _KINDS:
            return Signature((), _output_type(output), spec)
        kind = column_type(pd.Series(rows[:, 0]))
        inputs = tuple(ColumnSpec(str(i), kind) for i in range(rows.shape[1]))
        return Signature(inputs, _output_type(output), spec)
    frame = as_frame(example)
    inputs = tuple(ColumnSpec(str(name), column_type(frame[name])) for name in frame.columns)
    return Signature(inputs, _output_type(output))


# -- tensors ----------------------------------------------------------------------------------
def _is_torch(data: Any) -> bool:
    return type(data).__module__.startswith("torch") and hasattr(data, "detach")


def is_tensor(data: Any) -> bool:
    """A torch tensor, or a numpy array that is not a table (a table is two-dimensional)."""
    return _is_torch(data) or (isinstance(data, np.ndarray) and data.ndim != 2)


def as_array(data: Any) -> np.ndarray:
    if _is_torch(data):
        return data.detach().cpu().numpy()
    return np.asarray(data)


def enforce_tensor(spec: TensorSpec, data: Any) -> np.ndarray:
    """The array checked against `spec` and cast to its dtype."""
    array = as_array(data)
    expected = "[" + ", ".join(map(str, spec.shape)) + "]"
    fits = array.ndim == len(spec.shape) and all(
        want in (-1, got) for want, got in zip(spec.shape, array.shape, strict=True)
    )
    if not fits:
        raise InvalidArgumentError(
            f"input tensor has shape {list(array.shape)}; the model takes {expected} (-1: any size)"
        )
    declared = np.dtype(spec.dtype)
    if array.dtype == declared:
        return array
    given = array.dtype
    same_kind = given.kind == declared.kind or (given.kind in "iub" and declared.kind == "f")
    if not (np.can_cast(given, declared, "safe") or (same_kind and declared.kind == "f")):
        raise InvalidArgumentError(
            f"input tensor is {given.name} but the model takes {declared.name}; convert it first"
        )
    return array.astype(declared)


def _output_type(output: Any) -> str | None:
    if output is None:
        return None
    values = pd.Series(np.asarray(output).ravel()) if not isinstance(output, pd.Series) else output
    return column_type(values)


def enforce(signature: Signature, data: Any) -> Any:
    """The model's frame; with a tensor signature, an array (or torch tensor) input is checked
    as a tensor and returned as a numpy array."""
    if signature.tensor is not None and (is_tensor(data) or not signature.inputs):
        return enforce_tensor(signature.tensor, data)
    if isinstance(data, list):
        fast = _rows_fast(signature, data)
        if fast is not None:
            return fast
    frame = as_frame(data)
    missing = [c.name for c in signature.inputs if c.name not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"input is missing column {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f"; the model takes {', '.join(signature.columns)}"
        )
    converted = {spec.name: _cast(frame[spec.name], spec) for spec in signature.inputs}
    result = pd.DataFrame(converted, index=frame.index)
    if len(result.columns) == len(signature.inputs):
        result.columns = _columns(signature)
    return result


@functools.lru_cache(maxsize=256)
def _columns(signature: Signature) -> pd.Index:
    """The model frame's column labels, as an object-dtype index: pandas 3 would infer its
    Arrow-backed `str` dtype, whose conversions in scikit-learn's and XGBoost's input checks
    cost about 0.4-1 ms per predict call (twice XGBoost's own time for a few rows)."""
    return pd.Index(signature.columns, dtype=object)


# -- the fast path for row dicts ----------------------------------------------------------------
# Row dicts (the serving path) whose every value already has the declared type become the
# model's frame straight from Python lists: the same frame the general path (from_records,
# then a check and a cast per column) gives, without its cost. Anything else, a missing key
# or a value of another type included, takes the general path, which also words the errors.
_INT64 = (-(2**63), 2**63)
_FAST_DTYPES = {"float": np.dtype("float64"), "integer": np.dtype("int64"),
                "boolean": np.dtype("bool")}  # fmt: skip


@functools.lru_cache(maxsize=256)
def _plan(signature: Signature) -> tuple[tuple[str, ...], tuple[np.dtype, ...]] | None:
    """Column names and numpy dtypes, when every column has a fast type."""
    dtypes = tuple(_FAST_DTYPES.get(c.type) for c in signature.inputs)
    if not signature.inputs or any(d is None for d in dtypes):
        return None
    return tuple(c.name for c in signature.inputs), dtypes  # type: ignore[return-value]


def _fits(values: list[Any], dtype: np.dtype) -> bool:
    """Whether from_records would give `values` the declared type, or one cast losslessly
    to it (integers to float): exact types only (bool is not an int here, None is not)."""
    if dtype.kind == "f":
        low, high = _INT64
        return all(type(v) is float or (type(v) is int and low <= v < high) for v in values)
    if dtype.kind == "i":
        low, high = _INT64
        return all(type(v) is int and low <= v < high for v in values)
    return all(type(v) is bool for v in values)


def _rows_fast(signature: Signature, rows: list[Any]) -> pd.DataFrame | None:
    plan = _plan(signature)
    if plan is None or not rows:
        return None
    names, dtypes = plan
    index = _columns(signature)
    try:
        columns = [[row[name] for row in rows] for name in names]
    except (KeyError, TypeError, IndexError):  # a missing key, or not a dict
        return None
    if not all(type(row) is dict for row in rows):
        return None
    if not all(_fits(values, dtype) for values, dtype in zip(columns, dtypes, strict=True)):
        return None
    if len(set(dtypes)) == 1:
        matrix = np.array(columns, dtype=dtypes[0]).T
        return pd.DataFrame(matrix, columns=index)
    arrays = {n: np.array(v, dtype=d) for n, v, d in zip(names, columns, dtypes, strict=True)}
    return pd.DataFrame(arrays, columns=index)


def _cast(series: pd.Series, spec: ColumnSpec) -> pd.Series:
    given = column_type(series)
    if given == spec.type or spec.type == "other" or series.isna().all():
        return series
    if (given, spec.type) in _LOSSLESS:
        return series.astype("float64" if spec.type == "float" else "int64")
    raise InvalidArgumentError(
        f"column {spec.name!r} is {given} but the model takes {spec.type}; convert it first"
    )
