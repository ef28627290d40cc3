"""One step call as a unit of work that any executor can run, in this process or another.

The orchestrator creates the step's run and hands a StepTask to an executor; `execute` (in
whatever process the executor picked) loads the inputs from the artifact store, calls the
function inside that run, stores the outputs and ends the run. Only digests and plain values
travel between processes; the data goes through the artifact store.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from loopml.artifacts import objects
from loopml.artifacts.objects import Stored
from loopml.core import context
from loopml.core.config import WorkspaceConfig
from loopml.core.entities import ArtifactRef, Run, RunStatus
from loopml.core.errors import InvalidArgumentError
from loopml.core.pipelines import OUTPUT_PREFIX
from loopml.pipelines.step import OutputSpec
from loopml.tracking.run import MAX_ERROR_LENGTH, ActiveRun, ending_for
from loopml.workspace import Workspace

InputRefs = Stored | tuple[Stored, ...]


@dataclasses.dataclass(frozen=True)
class StepTask:
    node: str
    step: str
    fn: Callable[..., Any]
    outputs: OutputSpec
    config: WorkspaceConfig
    run_id: str
    project: str
    literals: Mapping[str, Any]
    inputs: Mapping[str, InputRefs]


@dataclasses.dataclass(frozen=True)
class TaskResult:
    status: RunStatus
    outputs: Mapping[str, Stored] = dataclasses.field(default_factory=dict)
    error: str | None = None
    lost: bool = False  # the process died: its run could not record the failure itself


def execute(task: StepTask) -> TaskResult:
    """Run one step inside its (already created) run; never raises for a failing step."""
    workspace = Workspace.for_config(task.config)
    record = Run(task.run_id, task.project, task.node, RunStatus.RUNNING, datetime.now(UTC))
    run = ActiveRun(workspace, record)
    context.push_run(run)
    try:
        kwargs = dict(task.literals)
        scratch = workspace.cache_dir / "inputs"
        for param, refs in task.inputs.items():
            kwargs[param] = _load(workspace, task, param, refs, scratch)
        value = task.fn(**kwargs)
        outputs = _store_outputs(workspace, task, value)
    except Exception as exc:
        error = "".join(traceback.format_exception(exc))[-MAX_ERROR_LENGTH:]
        run.end(RunStatus.FAILED, error)
        return TaskResult(RunStatus.FAILED, error=error)
    except BaseException as exc:  # Ctrl-C, SIGTERM: record and let it stop the process
        status, error = ending_for(type(exc), exc, exc.__traceback__)
        run.end(status, error)
        raise
    run.end(RunStatus.FINISHED)
    return TaskResult(RunStatus.FINISHED, outputs)


def _load(workspace: Workspace, task: StepTask, param: str, refs: InputRefs, scratch: Any) -> Any:
    def one(ref: Stored) -> Any:
        what = f"input {param!r} of step {task.node!r}"
        return objects.load_value(workspace.artifacts, ref, what=what, scratch=scratch)

    return [one(ref) for ref in refs] if isinstance(refs, tuple) else one(refs)


def _store_outputs(workspace: Workspace, task: StepTask, value: Any) -> dict[str, Stored]:
    outputs: dict[str, Stored] = {}
    now = datetime.now(UTC)
    for name, item in task.outputs.split(value, task.node).items():
        try:
            stored = objects.store_value(workspace.artifacts, item)
        except InvalidArgumentError as exc:
            label = "returned" if len(task.outputs.names) == 1 else f"returned as {name!r}"
            raise InvalidArgumentError(
                f"step {task.node!r} {label} a {type(item).__module__}."
                f"{type(item).__qualname__}, which loopml cannot store: {exc}"
            ) from None
        outputs[name] = stored
        ref = ArtifactRef(OUTPUT_PREFIX + name, stored.digest, stored.serializer, stored.size, now)
        workspace.store.runs.log_artifact(task.run_id, ref)
    return outputs


def execute_pickled(payload: bytes) -> TaskResult:
    """Entry point in worker processes: the task arrives cloudpickled (functions defined in
    a script or notebook cannot be imported by name there)."""
    import cloudpickle

    return execute(cloudpickle.loads(payload))


def pickle_task(task: StepTask) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(task)
