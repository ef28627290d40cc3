"""Records of pipeline runs: a PipelineRun and the StepRun of each node in its graph.

Both are views over tracking runs (a pipeline run is a Run, each step run a child Run whose
tags carry the node, the cache key and whether it was a cache hit), so they need no tables
of their own.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any

from loopml.core.entities import ArtifactRef, FrozenDict, RunStatus
from loopml.core.errors import NotFoundError

# Tags that link runs into pipelines. Users may read them; loopml writes them.
TAG_KIND = "loopml.kind"
TAG_PIPELINE = "loopml.pipeline"
TAG_SOURCE = "loopml.pipeline_source"  # FILE.py:NAME the pipeline run was defined in
TAG_REPRODUCTION_OF = "loopml.reproduction_of"  # NAME/VERSION a reproduction re-ran
TAG_NODE = "loopml.node"
TAG_STEP = "loopml.step"
TAG_CACHE_KEY = "loopml.cache_key"
TAG_CACHED = "loopml.cached"
TAG_CACHED_FROM = "loopml.cached_from"
TAG_ATTEMPT = "loopml.attempt"
KIND_PIPELINE = "pipeline"
KIND_STEP = "step"
OUTPUT_PREFIX = "outputs/"


class StepStatus(enum.StrEnum):
    """A step's state: the run statuses, plus PENDING (not started) and SKIPPED (an upstream
    step failed, so it never ran)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    SKIPPED = "SKIPPED"


@dataclasses.dataclass(frozen=True, slots=True)
class StepRun:
    name: str
    step: str
    status: StepStatus
    cached: bool
    run_id: str | None
    cache_key: str | None = None
    outputs: FrozenDict = dataclasses.field(default_factory=FrozenDict)  # name -> ArtifactRef
    error: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    attempts: int = 0

    @property
    def duration(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


@dataclasses.dataclass(frozen=True, slots=True)
class PipelineRun:
    id: str
    pipeline: str
    status: RunStatus
    steps: tuple[StepRun, ...]
    params: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    error: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    # Set by the layer that built the record, so `load` can read outputs from its store.
    loader: Callable[[ArtifactRef], Any] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )

    def step(self, name: str) -> StepRun:
        for step in self.steps:
            if step.name == name:
                return step
        known = ", ".join(s.name for s in self.steps)
        raise NotFoundError(f"pipeline run {self.id} has no step {name!r} (steps: {known})")

    def load(self, step: str, output: str | None = None) -> Any:
        """The value a step returned (or one named output of it), digest-verified."""
        outputs = self.step(step).outputs
        if not outputs:
            raise NotFoundError(f"step {step!r} of pipeline run {self.id} has no stored outputs")
        if output is None:
            if len(outputs) != 1:
                names = ", ".join(sorted(outputs))
                raise NotFoundError(f"step {step!r} has several outputs ({names}): name one")
            output = next(iter(outputs))
        if output not in outputs:
            raise NotFoundError(f"step {step!r} has no output {output!r}")
        if self.loader is None:
            raise NotFoundError("this pipeline run record was built without a store to load from")
        return self.loader(outputs[output])
