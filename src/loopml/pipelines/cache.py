"""Cache keys: what a step's result depends on, hashed.

A key covers the step's source code and that of the functions and classes of its own module
that it refers to (followed transitively), its literal parameters, and the digests of the
outputs it consumes. Change any of them and the key changes; nothing else changes it.
"""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Callable, Mapping
from typing import Any

from loopml.artifacts import serializers
from loopml.artifacts.hashing import digest_bytes
from loopml.core.errors import InvalidArgumentError

KEY_VERSION = 1


def code_digest(fn: Callable[..., Any]) -> str:
    """Digest of `fn`'s source and of the same-module functions and classes it uses."""
    parts = [_source(obj) for obj in sorted(_code_closure(fn), key=_qualified_name)]
    return digest_bytes("\n\0".join(parts).encode())


def _code_closure(fn: Callable[..., Any]) -> list[Any]:
    module = getattr(fn, "__module__", None)
    seen: dict[int, Any] = {}
    pending: list[Any] = [fn]
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen[id(obj)] = obj
        for name in _referenced_names(obj):
            target = _unwrap(getattr(obj, "__globals__", {}).get(name))
            if target is not None and getattr(target, "__module__", None) == module:
                pending.append(target)
    return list(seen.values())


def _unwrap(obj: Any) -> Any:
    """The function behind a step, or a plain function or class; None for anything else."""
    inner = getattr(obj, "fn", None)
    if inspect.isfunction(inner):
        return inner
    return obj if inspect.isfunction(obj) or inspect.isclass(obj) else None


def _referenced_names(obj: Any) -> set[str]:
    if inspect.isclass(obj):
        names: set[str] = set()
        for member in vars(obj).values():
            if inspect.isfunction(member):
                names |= _referenced_names(member)
        return names
    return _code_names(obj.__code__)


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):  # defined where no source is kept (a REPL, exec)
        code = getattr(obj, "__code__", None)
        if code is None:
            return _qualified_name(obj)
        return repr((code.co_code, code.co_consts, code.co_names))


def _qualified_name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"


def literal_digest(value: Any, *, step: str, param: str) -> str:
    """A stable digest of a parameter value: JSON when it is JSON, else its serialized bytes."""
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=True, separators=(",", ":"))
        return digest_bytes(b"json:" + text.encode())
    except (TypeError, ValueError):
        pass
    try:
        serializer = serializers.for_object(value)
    except InvalidArgumentError:
        raise InvalidArgumentError(
            f"step {step!r}, parameter {param!r}: a {type(value).__name__} cannot be a "
            "parameter (loopml must hash and store it); pass JSON values, DataFrames or "
            "arrays, or produce it in a step"
        ) from None
    return digest_bytes(serializer.name.encode() + b":" + serializer.dump(value))


def cache_key(
    step: str,
    code: str,
    literals: Mapping[str, str],
    inputs: Mapping[str, str | tuple[str, ...]],
    outputs: tuple[str, ...],
) -> str:
    """The key of one step call, from digests of its code, literals and inputs."""
    document = {
        "v": KEY_VERSION,
        "step": step,
        "code": code,
        "literals": dict(literals),
        "inputs": {k: list(v) if isinstance(v, tuple) else v for k, v in inputs.items()},
        "outputs": list(outputs),
    }
    return digest_bytes(json.dumps(document, sort_keys=True).encode())
