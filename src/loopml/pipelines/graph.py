"""The graph of a pipeline, built by calling its function with steps that record, not run.

Every check happens here, before anything runs: arguments a step does not take, missing
ones, a non-step function handed a step's output, and an output whose annotated type cannot
feed the input it is passed to.
"""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
import numbers
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from loopml.core.errors import InvalidArgumentError
from loopml.pipelines.cache import literal_digest

if typing.TYPE_CHECKING:
    from loopml.pipelines.step import Step


class PipelineDefinitionError(InvalidArgumentError):
    """The pipeline's graph is wrong; raised before any step runs."""


@dataclasses.dataclass(frozen=True)
class OutputRef:
    """One output of one node, as the pipeline function sees it while the graph is built."""

    node: str
    output: str
    type: Any = Any

    def _misuse(self, what: str) -> PipelineDefinitionError:
        caller = _caller_outside_loopml()
        return PipelineDefinitionError(
            f"the output {self.output!r} of step {self.node!r} was {what} {caller}while the "
            "pipeline was being built: step outputs can only be passed to @loopml.step "
            "functions (a plain function cannot use them until the pipeline runs)"
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._misuse(f"used (.{name})")

    def __bool__(self) -> bool:
        raise self._misuse("tested for truth")

    def __iter__(self) -> Iterator[Any]:
        raise self._misuse("iterated")

    def __len__(self) -> int:
        raise self._misuse("measured with len()")

    def __getitem__(self, key: Any) -> Any:
        raise self._misuse("indexed")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._misuse("called")

    def __index__(self) -> int:
        raise self._misuse("used as a number")

    def __float__(self) -> float:
        raise self._misuse("used as a number")

    def __str__(self) -> str:
        raise self._misuse("turned into a string")


def _refuse(operator: str) -> Callable[..., Any]:
    def method(self: OutputRef, *args: Any) -> Any:
        raise self._misuse(f"used in an expression ({operator})")

    return method


for _operator in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "lt", "le", "gt"):
    setattr(OutputRef, f"__{_operator}__", _refuse(_operator))
OutputRef.__ge__ = _refuse("ge")


def _caller_outside_loopml() -> str:
    for frame in inspect.stack()[2:8]:
        module = frame.frame.f_globals.get("__name__", "")
        if not module.startswith("loopml.") and frame.function != "<module>":
            return f"by {frame.function}() "
    return ""


@dataclasses.dataclass(frozen=True)
class Node:
    name: str  # unique in the graph: the step's name, then name_2, name_3...
    step: Step
    literals: Mapping[str, Any]  # parameter -> plain value
    inputs: Mapping[str, OutputRef | tuple[OutputRef, ...]]  # parameter -> upstream output(s)
    literal_digests: Mapping[str, str]  # parameter -> digest of its value, for the cache key

    @property
    def upstream(self) -> list[str]:
        names: list[str] = []
        for refs in self.inputs.values():
            for ref in refs if isinstance(refs, tuple) else (refs,):
                if ref.node not in names:
                    names.append(ref.node)
        return names


@dataclasses.dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]  # in call order, which is a topological order

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def downstream(self, name: str) -> list[str]:
        return [n.name for n in self.nodes if name in n.upstream]


class Builder:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._counts: dict[str, int] = {}

    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        count = self._counts.get(step.name, 0) + 1
        self._counts[step.name] = count
        name = step.name if count == 1 else f"{step.name}_{count}"
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise PipelineDefinitionError(f"step {step.name!r}: {exc}") from None
        bound.apply_defaults()
        literals: dict[str, Any] = {}
        inputs: dict[str, OutputRef | tuple[OutputRef, ...]] = {}
        for param, value in bound.arguments.items():
            kind = step.signature.parameters[param].kind
            if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise PipelineDefinitionError(
                    f"step {step.name!r}: *args and **kwargs are not supported in steps"
                )
            refs = _refs_in(value, step.name, param)
            if refs is None:
                check_literal(value, step, param)
                literals[param] = value
            else:
                for ref in refs if isinstance(refs, tuple) else (refs,):
                    check_feeds(ref, step, param, element=isinstance(refs, tuple))
                inputs[param] = refs
        digests = {p: literal_digest(v, step=name, param=p) for p, v in literals.items()}
        self.nodes.append(Node(name, step, literals, inputs, digests))
        return _output_refs(name, step)


def _refs_in(value: Any, step: str, param: str) -> OutputRef | tuple[OutputRef, ...] | None:
    """The outputs an argument carries: one, a list or tuple of them (fan-in), or none."""
    if isinstance(value, OutputRef):
        return value
    if isinstance(value, list | tuple) and any(isinstance(v, OutputRef) for v in value):
        if not all(isinstance(v, OutputRef) for v in value):
            raise PipelineDefinitionError(
                f"step {step!r}, parameter {param!r}: a list mixing step outputs and plain "
                "values; pass the plain values through a step or as another parameter"
            )
        return tuple(value)
    if isinstance(value, dict) and any(isinstance(v, OutputRef) for v in value.values()):
        raise PipelineDefinitionError(
            f"step {step!r}, parameter {param!r}: step outputs inside a dict are not "
            "supported; pass them as a list or as separate parameters"
        )
    return None


def _output_refs(node: str, step: Step) -> Any:
    spec = step.outputs
    refs = [OutputRef(node, n, t) for n, t in zip(spec.names, spec.types, strict=True)]
    if spec.kind == "single":
        return refs[0]
    if spec.kind == "namedtuple":
        return spec.container(*refs)
    if spec.kind == "dataclass":
        return _Outputs(dict(zip(spec.names, refs, strict=True)))
    return tuple(refs)


class _Outputs:
    """The outputs of a step that returns a dataclass, as attributes."""

    def __init__(self, refs: dict[str, OutputRef]) -> None:
        self.__dict__.update(refs)


# -- type checks ----------------------------------------------------------------------------
_NUMERIC_WIDENING = {(int, float), (bool, int), (bool, float), (int, complex), (float, complex)}


def check_feeds(ref: OutputRef, step: Step, param: str, *, element: bool = False) -> None:
    expected = step.hints.get(param, Any)
    if element:  # one of several outputs passed as a list: check it against the item type
        args = typing.get_args(expected)
        expected = args[0] if len(args) == 1 or (len(args) == 2 and args[1] is ...) else Any
    if not _compatible(ref.type, expected):
        raise PipelineDefinitionError(
            f"step {step.name!r}, parameter {param!r} expects {_type_name(expected)} but is "
            f"fed the output {ref.output!r} of step {ref.node!r}, which is "
            f"{_type_name(ref.type)}"
        )


def check_literal(value: Any, step: Step, param: str) -> None:
    """A plain value (str, int, float, bool) must fit the step's annotation: 'abc' for a
    `float` is refused while the graph is built, not when the step runs."""
    if type(value) not in (str, int, float, bool):
        return
    expected = step.hints.get(param, Any)
    if not _compatible(type(value), expected):
        raise PipelineDefinitionError(
            f"step {step.name!r}, parameter {param!r} expects {_type_name(expected)}, "
            f"got {value!r} ({type(value).__name__})"
        )


def _compatible(given: Any, expected: Any) -> bool:
    if given is Any or expected is Any or given is None or given is inspect.Parameter.empty:
        return True
    if typing.get_origin(expected) in (typing.Union, types.UnionType):
        return any(_compatible(given, option) for option in typing.get_args(expected))
    if typing.get_origin(given) in (typing.Union, types.UnionType):
        return all(_compatible(option, expected) for option in typing.get_args(given))
    given_class = typing.get_origin(given) or given
    expected_class = typing.get_origin(expected) or expected
    if not isinstance(given_class, type) or not isinstance(expected_class, type):
        return True  # TypeVars, Protocols, string annotations: nothing sure to check
    if (given_class, expected_class) in _NUMERIC_WIDENING:
        return True
    if expected_class is float and issubclass(given_class, numbers.Real):
        return True
    try:
        return issubclass(given_class, expected_class)
    except TypeError:
        return True


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return f"{annotation.__module__}.{annotation.__qualname__}".removeprefix("builtins.")
    return repr(annotation)


# -- building -------------------------------------------------------------------------------
_BUILDER: contextvars.ContextVar[Builder | None] = contextvars.ContextVar(
    "loopml_pipeline_builder", default=None
)


def current_builder() -> Builder | None:
    return _BUILDER.get()


def build(fn: Callable[..., Any], params: Mapping[str, Any]) -> Graph:
    """Call the pipeline function with its parameters, recording steps instead of running."""
    builder = Builder()
    token = _BUILDER.set(builder)
    try:
        fn(**params)
    finally:
        _BUILDER.reset(token)
    if not builder.nodes:
        raise PipelineDefinitionError(f"pipeline {fn.__name__!r} calls no @loopml.step")
    return Graph(tuple(builder.nodes))
