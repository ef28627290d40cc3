"""Plain option values converted without Pydantic, to keep `loopml` quick to start.

Typer 0.2x converts every command-line value through a Pydantic `TypeAdapter`: importing
Pydantic and building the adapters costs about 0.1 s at each start of `loopml`, more than the
rest of the command line together. The options of loopml are plain types (str, int, float,
bool, Path, or a list of one, without min/max, parser, choices or path checks); those are
converted here the way Typer documents them, and anything else is left to Typer. On a Typer
that does not have this seam (older, Click-based ones), nothing is changed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}
_NAMES = {int: "integer", float: "number", bool: "boolean"}


def install() -> bool:
    """Route plain parameters of Typer's runtime coercion through `convert`; True if done."""
    try:
        from typer import _coercion
        from typer import core as typer_core
    except ImportError:
        return False
    original = getattr(typer_core, "build_runtime_param", None)
    base = getattr(_coercion, "RuntimeParam", None)
    if original is None or base is None or getattr(original, "_loopml", False):
        return original is not None and getattr(original, "_loopml", False)

    @dataclasses.dataclass(frozen=True)
    class PlainRuntimeParam(base):  # type: ignore[misc, valid-type]
        kind: type = str

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            from typer._click.exceptions import BadParameter

            try:
                if isinstance(value, list | tuple):
                    return [convert(item, self.kind) for item in value]
                return convert(value, self.kind)
            except ValueError as exc:
                raise BadParameter(str(exc), ctx=ctx, param=param) from None

    def build_runtime_param(descriptor: Any) -> Any:
        kind = plain_kind(descriptor)
        if kind is None:
            return original(descriptor)
        return PlainRuntimeParam(descriptor.parameter_info, descriptor.annotation, kind=kind)

    build_runtime_param._loopml = True  # type: ignore[attr-defined]
    typer_core.build_runtime_param = build_runtime_param
    return True


def plain_kind(descriptor: Any) -> type | None:
    """The plain type a parameter converts to, or None when Typer must do it."""
    info = descriptor.parameter_info
    if getattr(descriptor, "file_annotation", None) is not None:
        return None
    for attribute in ("parser", "click_type", "min", "max", "formats", "path_type"):
        if getattr(info, attribute, None) is not None:
            return None
    if getattr(info, "exists", False) or getattr(info, "resolve_path", False):
        return None
    if not getattr(info, "file_okay", True) or not getattr(info, "dir_okay", True):
        return None
    if getattr(info, "writable", False) or getattr(info, "readable", True) is not True:
        return None
    annotation = descriptor.annotation
    args = getattr(annotation, "__args__", ())
    if getattr(annotation, "__origin__", None) is list and len(args) == 1:
        annotation = args[0]
    if annotation in (str, int, float, bool, Path):
        return annotation  # type: ignore[no-any-return]
    return None


def convert(value: Any, kind: type) -> Any:
    """`value` (text from the command line, or a default) as `kind`; ValueError if it is not."""
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if kind is str:
        return str(value)
    if kind is Path:
        return Path(value)
    text = str(value).strip()
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
    else:
        try:
            return kind(text)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a valid {_NAMES.get(kind, kind.__name__)}.")
