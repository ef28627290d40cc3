"""Running pipelines on the local executor: records, outputs, caching, failures, retries."""

from __future__ import annotations

import pandas as pd
import pytest

import loopml
from loopml.core.pipelines import StepStatus
from loopml.pipelines.executors.local import LocalExecutor
from loopml.pipelines.task import StepTask
from tests.pipelines import sample


def test_run_records_pipeline_and_step_runs(workspace) -> None:
    result = sample.sums.run(n=10, workspace=workspace)
    assert result.status == "FINISHED"
    assert [s.name for s in result.steps] == ["make_frame", "halve", "total", "total_2", "add"]
    assert all(s.status is StepStatus.FINISHED and not s.cached for s in result.steps)
    assert result.load("add") == float(sum(range(10)))
    pd.testing.assert_frame_equal(result.load("halve", "second"), sample.make_frame.fn(10).iloc[5:])

    pipeline_run = loopml.get_run(result.id, workspace=workspace)
    assert pipeline_run.params == {"n": "10", "scale": "1.0"}
    assert pipeline_run.tags["loopml.kind"] == "pipeline"
    step = loopml.get_run(result.step("total").run_id, workspace=workspace)
    assert step.parent_run_id == result.id
    assert step.params == {"scale": "1.0"}
    assert step.metrics == {"rows": 5.0}  # logged from inside the step via current_run()
    inputs = workspace.store.runs.inputs(step.id)
    assert [(i.kind, i.name, i.version) for i in inputs] == [
        ("artifact", "frame", result.step("halve").run_id)
    ]
    assert inputs[0].digest == result.step("halve").outputs["first"].digest


def test_second_run_is_fully_cached_and_hits_are_recorded(workspace) -> None:
    first = sample.sums.run(workspace=workspace)
    second = sample.sums.run(workspace=workspace)
    assert all(s.cached for s in second.steps)
    assert second.load("add") == first.load("add")
    hit = loopml.get_run(second.step("add").run_id, workspace=workspace)
    assert hit.tags["loopml.cached"] == "true"
    assert hit.tags["loopml.cached_from"] == first.step("add").run_id
    assert hit.status == "FINISHED"


def test_changed_parameter_recomputes_only_downstream(workspace) -> None:
    sample.sums.run(scale=1.0, workspace=workspace)
    result = sample.sums.run(scale=2.0, workspace=workspace)
    cached = {s.name: s.cached for s in result.steps}
    assert cached == {
        "make_frame": True, "halve": True, "total": False, "total_2": False, "add": False,
    }  # fmt: skip
    assert result.load("add") == 2.0 * sum(range(10))


def test_cache_false_recomputes_everything(workspace) -> None:
    sample.sums.run(workspace=workspace)
    result = sample.sums.run(workspace=workspace, cache=False)
    assert not any(s.cached for s in result.steps)


def test_step_with_cache_disabled_always_runs(workspace) -> None:
    @loopml.step(cache=False)
    def fresh(n: int) -> int:
        return n

    @loopml.pipeline
    def uses():
        sample.add(fresh(n=1), 1.0)

    uses.run(workspace=workspace)
    again = uses.run(workspace=workspace)
    assert {s.name: s.cached for s in again.steps} == {"fresh": False, "add": True}


def test_failing_step_fails_the_pipeline_with_its_traceback(workspace) -> None:
    result = sample.failing.run(workspace=workspace)
    assert result.status == "FAILED"
    step = result.step("explode")
    assert step.status is StepStatus.FAILED
    assert "ValueError: boom" in step.error and "Traceback" in step.error
    assert result.step("add").status is StepStatus.SKIPPED
    assert "step 'explode' failed" in loopml.get_run(result.id, workspace=workspace).error
    assert loopml.get_run(step.run_id, workspace=workspace).status == "FAILED"


def test_unstorable_output_fails_the_step_naming_it(workspace) -> None:
    @loopml.step
    def weird():  # no annotation: nothing to check until it runs
        return object()

    @loopml.pipeline
    def uses():
        sample.gather([weird()])

    result = uses.run(workspace=workspace)
    assert result.step("weird").status is StepStatus.FAILED
    assert "step 'weird' returned a builtins.object" in result.step("weird").error
    assert result.step("gather").status is StepStatus.SKIPPED


def test_retry_after_failure_succeeds(workspace, tmp_path) -> None:
    result = sample.retried.run(marker=str(tmp_path / "m"), workspace=workspace)
    step = result.step("flaky")
    assert result.status == "FINISHED" and step.status is StepStatus.FINISHED
    assert step.attempts == 2
    attempts = workspace.store.runs.search(filter=f"parent_run_id = '{result.id}'")
    assert sorted(r.status.value for r in attempts) == ["FAILED", "FINISHED"]


def test_rerun_after_failure_reuses_finished_steps(workspace) -> None:
    @loopml.step
    def maybe(fail: bool) -> int:
        if fail:
            raise RuntimeError("not yet")
        return 1

    @loopml.pipeline
    def flow(fail: bool = True):
        frame = sample.make_frame(n=4)
        sample.total(frame)
        sample.add(maybe(fail=fail), 1.0)

    assert flow.run(workspace=workspace).status == "FAILED"
    again = flow.run(fail=False, workspace=workspace)
    assert again.status == "FINISHED"
    assert {s.name: s.cached for s in again.steps} == {
        "make_frame": True, "total": True, "maybe": False, "add": False,
    }  # fmt: skip


def test_fan_in_list_of_outputs(workspace) -> None:
    result = sample.fan_out.run(width=3, workspace=workspace)
    assert result.status == "FINISHED"
    inputs = workspace.store.runs.inputs(result.step("gather").run_id)
    assert sorted(i.name for i in inputs) == ["values[0]", "values[1]", "values[2]"]


def test_get_pipeline_run_reads_it_back(workspace) -> None:
    result = sample.sums.run(workspace=workspace)
    again = loopml.get_pipeline_run(result.id, workspace=workspace)
    assert again == result
    assert again.load("add") == result.load("add")
    with pytest.raises(loopml.NotFoundError, match="no step 'nope'"):
        again.step("nope")
    with pytest.raises(loopml.NotFoundError, match="several outputs"):
        again.load("halve")


class _InterruptedWhileSubmitting(LocalExecutor):
    """Ctrl-C arriving after a step's run was created but before `submit` returned (in the
    process executor, while a worker is being spawned)."""

    def submit(self, task: StepTask) -> object:
        raise KeyboardInterrupt


def test_interrupt_during_submit_records_the_step_killed(workspace) -> None:
    with pytest.raises(KeyboardInterrupt):
        sample.sleepy.run(seconds=0.0, executor=_InterruptedWhileSubmitting(), workspace=workspace)
    runs = {r.tags.get("loopml.node", "pipeline"): r for r in workspace.store.runs.search()}
    assert runs["pipeline"].status == "KILLED"
    assert runs["slow"].status == "KILLED"
