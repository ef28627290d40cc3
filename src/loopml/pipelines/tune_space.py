"""Search spaces for `loopml.tune`, written without importing Optuna.

    {"C": ("log", 1e-3, 1e2),          # log-uniform float
     "max_depth": ("int", 2, 10),       # integer, both ends included
     "kernel": ["linear", "rbf"],       # categorical: a list of choices
     "lr": (0.0, 1.0)}                  # uniform float (also ("float", lo, hi))

`parse_space` checks every entry and names the bad one; `to_optuna` makes the Optuna
distributions (and is the only place here that imports Optuna).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

from loopml.core.errors import InvalidArgumentError
from loopml.core.names import validate_key

FORMS = "(lo, hi), ('int', lo, hi), ('log', lo, hi), ('float', lo, hi) or a list of choices"
CHOICE_TYPES = (str, int, float, bool, type(None))
MAX_CHOICES = 10_000


@dataclasses.dataclass(frozen=True)
class Dimension:
    name: str
    kind: str  # "float" | "log" | "int" | "categorical"
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.kind == "categorical":
            return repr(list(self.choices))
        return f"{self.kind}[{self.low!r}, {self.high!r}]"


def parse_space(space: Mapping[str, Any]) -> tuple[Dimension, ...]:
    if not isinstance(space, Mapping):
        raise InvalidArgumentError(f"space must be a mapping of name to spec, got {space!r}")
    if not space:
        raise InvalidArgumentError("space is empty: give at least one parameter to tune")
    return tuple(_dimension(name, spec) for name, spec in space.items())


def _dimension(name: Any, spec: Any) -> Dimension:
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidArgumentError(f"space entry {name!r}: the name must be a Python identifier")
    validate_key(name, f"space entry {name!r}: name")
    if isinstance(spec, list):
        return _categorical(name, spec)
    if isinstance(spec, tuple) and len(spec) == 2:
        return _bounded(name, "float", spec[0], spec[1])
    if isinstance(spec, tuple) and len(spec) == 3 and spec[0] in ("int", "log", "float"):
        return _bounded(name, spec[0], spec[1], spec[2])
    raise InvalidArgumentError(f"space entry {name!r}: {spec!r} is not a spec; use {FORMS}")


def _categorical(name: str, choices: list[Any]) -> Dimension:
    if not choices or len(choices) > MAX_CHOICES:
        raise InvalidArgumentError(
            f"space entry {name!r}: a list of choices needs 1 to {MAX_CHOICES} entries"
        )
    for choice in choices:
        if not isinstance(choice, CHOICE_TYPES):
            raise InvalidArgumentError(
                f"space entry {name!r}: choice {choice!r} is a {type(choice).__name__}; "
                "choices must be str, int, float, bool or None"
            )
    if len(set(map(repr, choices))) != len(choices):
        raise InvalidArgumentError(f"space entry {name!r}: choices repeat in {choices!r}")
    return Dimension(name, "categorical", choices=tuple(choices))


def _bounded(name: str, kind: str, low: Any, high: Any) -> Dimension:
    integral = kind == "int"
    wanted = numbers.Integral if integral else numbers.Real
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, wanted):
            what = "integers" if integral else "numbers"
            raise InvalidArgumentError(
                f"space entry {name!r}: bounds of {kind!r} must be {what}, got {bound!r}"
            )
        if not math.isfinite(bound):
            raise InvalidArgumentError(f"space entry {name!r}: bound {bound!r} is not finite")
    if low > high or (not integral and low == high):
        raise InvalidArgumentError(f"space entry {name!r}: low {low!r} must be below high {high!r}")
    if kind == "log" and low <= 0:
        raise InvalidArgumentError(f"space entry {name!r}: 'log' needs a low bound above 0")
    if integral:
        return Dimension(name, kind, int(low), int(high))
    return Dimension(name, kind, float(low), float(high))


def to_optuna(dimensions: tuple[Dimension, ...]) -> dict[str, Any]:
    """Optuna distributions by name (imports Optuna: a missing one names loopml[tune])."""
    from loopml.core.extras import require

    require("optuna", "loopml.tune")
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for dim in dimensions:
        if dim.kind == "categorical":
            out[dim.name] = CategoricalDistribution(dim.choices)
        elif dim.kind == "int":
            out[dim.name] = IntDistribution(int(dim.low), int(dim.high))
        else:
            out[dim.name] = FloatDistribution(dim.low, dim.high, log=dim.kind == "log")
    return out
