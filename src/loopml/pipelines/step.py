"""`@step`: a plain typed function that a pipeline can call as a node of its graph.

Called outside a pipeline, a step is the function itself. Called while a pipeline is being
built, it runs nothing: it adds a node and returns references to the node's outputs.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

from loopml.core.errors import InvalidArgumentError
from loopml.core.names import validate_key

F = TypeVar("F", bound=Callable[..., Any])
SINGLE_OUTPUT = "output"


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """How a step's return value splits into separately stored outputs."""

    kind: str  # "single" | "tuple" | "namedtuple" | "dataclass"
    names: tuple[str, ...]
    types: tuple[Any, ...]  # annotation per output; Any where none was given
    container: Any = None  # the NamedTuple or dataclass type

    def split(self, value: Any, step: str) -> dict[str, Any]:
        if self.kind == "single":
            return {SINGLE_OUTPUT: value}
        if self.kind == "dataclass":
            if not dataclasses.is_dataclass(value):
                raise InvalidArgumentError(
                    f"step {step!r} must return a {self.container.__name__}, "
                    f"got {type(value).__name__}"
                )
            return {name: getattr(value, name) for name in self.names}
        if not isinstance(value, tuple) or len(value) != len(self.names):
            raise InvalidArgumentError(
                f"step {step!r} must return a tuple of {len(self.names)} values, "
                f"got {type(value).__name__}"
            )
        return dict(zip(self.names, value, strict=True))


def output_spec(fn: Callable[..., Any], hints: dict[str, Any]) -> OutputSpec:
    returned = hints.get("return", Any)
    if isinstance(returned, type) and issubclass(returned, tuple) and hasattr(returned, "_fields"):
        fields = returned._fields
        types = typing.get_type_hints(returned)
        return OutputSpec("namedtuple", fields, tuple(types.get(f, Any) for f in fields), returned)
    if isinstance(returned, type) and dataclasses.is_dataclass(returned):
        fields = tuple(f.name for f in dataclasses.fields(returned))
        types = typing.get_type_hints(returned)
        return OutputSpec("dataclass", fields, tuple(types.get(f, Any) for f in fields), returned)
    if typing.get_origin(returned) is tuple:
        args = typing.get_args(returned)
        if args and Ellipsis not in args:
            return OutputSpec("tuple", tuple(str(i) for i in range(len(args))), args)
    return OutputSpec("single", (SINGLE_OUTPUT,), (returned,))


class Step:
    """A function wrapped as a pipeline step. Its name is the function's unless given."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        cache: bool = True,
        retries: int = 0,
        retry_delay: float = 1.0,
    ) -> None:
        if not callable(fn) or inspect.isclass(fn):
            raise InvalidArgumentError(f"@step needs a function, got {fn!r}")
        if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
            raise InvalidArgumentError(f"step {fn.__name__!r} must be a plain function")
        if retries < 0 or retry_delay < 0:
            raise InvalidArgumentError("retries and retry_delay must not be negative")
        self.fn = fn
        self.name = validate_key(name or fn.__name__, "step name")
        self.cache = cache
        self.retries = retries
        self.retry_delay = retry_delay
        self.signature = inspect.signature(fn)
        self.hints = _type_hints(fn)
        self.outputs = output_spec(fn, self.hints)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from loopml.pipelines import graph

        builder = graph.current_builder()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs)

    def __repr__(self) -> str:
        return f"Step({self.name!r})"


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: check nothing rather than fail
        return {}


@overload
def step(fn: F) -> F: ...
@overload
def step(
    *, name: str | None = None, cache: bool = True, retries: int = 0, retry_delay: float = 1.0
) -> Callable[[F], F]: ...


def step(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    retry_delay: float = 1.0,
) -> Any:
    """Make a plain typed function a pipeline step: `@step` or `@step(retries=2, cache=False)`.

    `retries` re-runs a failing step with exponential backoff starting at `retry_delay`
    seconds; `cache=False` always recomputes it.
    """
    options = {"name": name, "cache": cache, "retries": retries, "retry_delay": retry_delay}
    if fn is None:
        return lambda f: Step(f, **options)
    return Step(fn, **options)
