"""The process executor: parallel independent steps, and workers that die."""

from __future__ import annotations

import pytest

from loopml.core.pipelines import StepStatus
from tests.pipelines import sample

pytestmark = pytest.mark.slow


def test_independent_steps_run_in_parallel_worker_processes(workspace) -> None:
    result = sample.fan_out.run(width=4, executor="process", workspace=workspace)
    assert result.status == "FINISHED"
    pids = [result.load(f"pid{suffix}") for suffix in ("", "_2", "_3", "_4")]
    assert len(set(pids)) >= 2  # two workers took them
    runs = [workspace.store.runs.get(result.step(s).run_id) for s in ("pid", "pid_2")]
    first, second = sorted(runs, key=lambda r: r.start_time)
    assert second.start_time < first.end_time  # they overlapped


def test_same_results_and_cache_as_local(workspace) -> None:
    local = sample.sums.run(workspace=workspace, cache=False)
    parallel = sample.sums.run(workspace=workspace, cache=False, executor="process")
    assert parallel.load("add") == local.load("add")
    again = sample.sums.run(workspace=workspace, executor="process")
    assert all(s.cached for s in again.steps)


def test_worker_killed_is_retried(workspace, tmp_path) -> None:
    result = sample.dying.run(
        marker=str(tmp_path / "once"), executor="process", workspace=workspace
    )
    assert result.status == "FINISHED"
    assert result.step("die").attempts == 2
    assert result.load("add") == 4.0


def test_worker_killed_every_time_fails_without_hanging(workspace, tmp_path) -> None:
    marker = str(tmp_path / "always")
    result = sample.dying.run(marker=marker, executor="process", workspace=workspace)
    assert result.status == "FAILED"
    step = result.step("die")
    assert step.status is StepStatus.FAILED
    assert "worker process died" in step.error
    assert workspace.store.runs.get(step.run_id).status == "FAILED"
    assert result.step("add").status is StepStatus.SKIPPED
