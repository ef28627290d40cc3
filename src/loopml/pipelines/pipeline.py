"""`@pipeline`: a function that calls steps. `.run(**params)` builds, checks and runs it.

@loopml.pipeline
def training(C: float = 1.0):
    frame = ingest()
    train_set, test_set = split(frame, test_size=0.25)
    model = train(train_set, C=C)
    evaluate(model, test_set)

result = training.run(C=0.5, executor="process")
result.status, [s.name for s in result.steps], result.load("train")
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from loopml.core.entities import RunStatus
from loopml.core.names import validate_key, validate_project_name
from loopml.core.pipelines import (
    KIND_PIPELINE,
    TAG_KIND,
    TAG_PIPELINE,
    TAG_SOURCE,
    PipelineRun,
)
from loopml.pipelines import graph as graphs
from loopml.pipelines.executors.base import Executor, using
from loopml.pipelines.orchestrator import Orchestrator, StepState, is_scalar
from loopml.pipelines.records import GRAPH_ARTIFACT, graph_document, read_pipeline_run
from loopml.tracking.api import start_run
from loopml.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


class Pipeline:
    def __init__(
        self, fn: Callable[..., Any], *, name: str | None = None, project: str | None = None
    ) -> None:
        self.fn = fn
        self.name = validate_key(name or fn.__name__, "pipeline name")
        self.project = validate_project_name(project) if project else None
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def bind(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The pipeline's parameters with defaults applied; unknown or missing ones refused."""
        try:
            bound = self.signature.bind(**params)
        except TypeError as exc:
            raise graphs.PipelineDefinitionError(f"pipeline {self.name!r}: {exc}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def graph(self, **params: Any) -> graphs.Graph:
        """Build and check the graph for these parameters without running anything."""
        return graphs.build(self.fn, self.bind(params))

    def run(
        self,
        *,
        executor: str | Executor = "local",
        cache: bool = True,
        workspace: Workspace | None = None,
        project: str | None = None,
        on_change: Callable[[StepState], None] | None = None,
        tags: Mapping[str, str] | None = None,
        **params: Any,
    ) -> PipelineRun:
        """Run the pipeline; returns its PipelineRun (also when a step failed: check status).

        `cache=False` recomputes every step; `tags` are added to the pipeline run's. Ctrl-C
        or SIGTERM cancels the running steps, records them KILLED, and re-raises.
        """
        values = self.bind(params)
        graph = graphs.build(self.fn, values)  # every check happens before anything runs
        ws = workspace or Workspace.current(create=True)
        project = project or self.project or os.environ.get("LOOPML_PROJECT") or self.name
        tags = {
            **(tags or {}),
            TAG_KIND: KIND_PIPELINE,
            TAG_PIPELINE: self.name,
            **self._source_tag(),
        }
        with (
            using(executor) as engine,
            start_run(project, self.name, tags, workspace=ws) as run,
        ):
            run.log_params({k: v for k, v in values.items() if is_scalar(v)})
            run.log_artifact(GRAPH_ARTIFACT, graph_document(graph))
            orchestrator = Orchestrator(
                ws,
                graph,
                engine,
                pipeline=self.name,
                parent=run.info,
                cache=cache,
                on_change=on_change,
            )
            states = orchestrator.run()
            failed = [s for s in states.values() if s.status.value in ("FAILED", "KILLED")]
            if failed:
                first = failed[0]
                run.end(RunStatus.FAILED, f"step {first.node.name!r} failed:\n{first.error}")
        return read_pipeline_run(ws, run.id)

    def _source_tag(self) -> dict[str, str]:
        """Where the pipeline is defined, as FILE.py:NAME for `load_pipeline` (so that
        `loopml reproduce` can run it again); nothing when it has no file."""
        try:
            path = inspect.getsourcefile(self.fn)
        except TypeError:
            return {}
        if not path or not path.endswith(".py"):
            return {}
        return {TAG_SOURCE: f"{os.path.abspath(path)}:{self.fn.__name__}"}

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r})"


@overload
def pipeline(fn: F) -> F: ...
@overload
def pipeline(*, name: str | None = None, project: str | None = None) -> Callable[[F], F]: ...


def pipeline(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    project: str | None = None,
) -> Any:
    """Make a function that calls steps a pipeline: `@pipeline` or `@pipeline(name=...)`."""
    if fn is None:
        return lambda f: Pipeline(f, name=name, project=project)
    return Pipeline(fn, name=name, project=project)
