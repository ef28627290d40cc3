"""Serializers chosen by type: each turns an object into bytes and back, never with pickle.

pandas DataFrame -> Parquet, polars DataFrame -> Parquet (loaded back as polars), numpy
array -> .npy (object arrays refused), dict/list -> JSON, scikit-learn estimators -> skops
(loaded only when they hold nothing but scikit-learn, numpy and scipy types), bytes as they
are. Heavy libraries are imported only when an object of theirs is seen.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from collections.abc import Callable
from typing import Any

from loopml.artifacts import skops_trust
from loopml.core.errors import InvalidArgumentError
from loopml.core.frames import collected, is_polars


@dataclasses.dataclass(frozen=True, slots=True)
class Serializer:
    name: str
    accepts: Callable[[Any], bool]
    dump: Callable[[Any], bytes]
    load: Callable[[bytes], Any]


def _is_dataframe(obj: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(obj, pandas.DataFrame)


def _dump_polars(frame: Any) -> bytes:
    buffer = io.BytesIO()
    collected(frame).write_parquet(buffer)
    return buffer.getvalue()


def _load_polars(data: bytes) -> Any:
    import polars

    return polars.read_parquet(io.BytesIO(data))


def _is_ndarray(obj: Any) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(obj, numpy.ndarray)


def _dump_parquet(frame: Any) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=True)
    return buffer.getvalue()


def _load_parquet(data: bytes) -> Any:
    import pandas

    return pandas.read_parquet(io.BytesIO(data))


def _dump_npy(array: Any) -> bytes:
    import numpy

    if array.dtype.hasobject:
        raise InvalidArgumentError(
            "numpy arrays of Python objects cannot be stored safely (pickle)"
        )
    buffer = io.BytesIO()
    numpy.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _load_npy(data: bytes) -> Any:
    import numpy

    return numpy.load(io.BytesIO(data), allow_pickle=False)


def _dump_json(obj: Any) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=True).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"cannot store this {type(obj).__name__} as JSON: {exc}"
        ) from None


def _is_sklearn(obj: Any) -> bool:
    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(obj, base.BaseEstimator)


def _dump_skops(model: Any) -> bytes:
    import skops.io

    return skops.io.dumps(model)


def _load_skops(data: bytes) -> Any:
    import skops.io

    # The trust list is decided in code (skops_trust), never read from the artifact: the
    # flaw behind skops' and MLflow's pickle CVEs.
    found = skops.io.get_untrusted_types(data=data)
    refused = skops_trust.untrusted(found)
    if refused:
        raise InvalidArgumentError(
            "refusing to load a scikit-learn model holding types loopml does not vet (code "
            f"could run): {', '.join(refused)}"
        )
    return skops.io.loads(data, trusted=found)


_JSON_TYPES = (dict, list, str, int, float, bool, type(None))

SERIALIZERS: tuple[Serializer, ...] = (
    Serializer("parquet", _is_dataframe, _dump_parquet, _load_parquet),
    Serializer("polars-parquet", is_polars, _dump_polars, _load_polars),
    Serializer("npy", _is_ndarray, _dump_npy, _load_npy),
    Serializer("json", lambda o: isinstance(o, _JSON_TYPES), _dump_json, json.loads),
    Serializer("skops", _is_sklearn, _dump_skops, _load_skops),
    Serializer("bytes", lambda o: isinstance(o, bytes | bytearray | memoryview), bytes, bytes),
)
_BY_NAME = {s.name: s for s in SERIALIZERS}


def for_object(obj: Any) -> Serializer:
    for serializer in SERIALIZERS:
        if serializer.accepts(obj):
            return serializer
    raise InvalidArgumentError(
        f"no serializer for {type(obj).__module__}.{type(obj).__qualname__}: loopml stores "
        "pandas and polars DataFrames, numpy arrays, JSON values (dicts, lists, strings, numbers, "
        "booleans, None), bytes, scikit-learn models (skops), and files or folders given as paths"
    )


def by_name(name: str) -> Serializer:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown serializer {name!r}") from None
