"""start_run(log_system_metrics=True): a background thread samples the machine into the run."""

from __future__ import annotations

import importlib.util
import threading
import time

import pytest

import loopml
from loopml.core.errors import InvalidArgumentError
from loopml.tracking.run import ActiveRun
from loopml.tracking.system_metrics import SystemSampler
from loopml.workspace import Workspace

pytest.importorskip("psutil", reason="the system extra is not installed")
WAIT_S = 30.0  # a bound on waiting for samples on a loaded machine, not a speed check


def _history(run: ActiveRun, key: str = "system/cpu_percent") -> list[int]:
    run.flush()
    return [m.step for m in loopml.get_metric_history(run.id, key)]


def _wait_for_samples(run: ActiveRun, count: int) -> list[int]:
    deadline = time.monotonic() + WAIT_S
    steps = _history(run)
    while len(steps) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        steps = _history(run)
    return steps


def _sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "loopml-system" and t.is_alive()]


def test_samples_are_logged_with_increasing_steps_until_the_run_ends(
    workspace: Workspace,
) -> None:
    with loopml.start_run(project="p", log_system_metrics=True,
                          system_metrics_interval=0.1) as run:  # fmt: skip
        steps = _wait_for_samples(run, 2)
        assert len(steps) >= 2
        assert steps == list(range(len(steps)))
    logged = loopml.get_run(run.id).metrics
    for key in ("cpu_percent", "process_cpu_percent", "process_rss_mb", "memory_used_mb",
                "memory_percent"):  # fmt: skip
        assert f"system/{key}" in logged, key
    assert logged["system/process_rss_mb"] > 1  # this Python process holds megabytes
    assert 0 <= logged["system/memory_percent"] <= 100
    assert not _sampler_threads()  # stopped and joined when the run ended
    ended_with = len(loopml.get_metric_history(run.id, "system/cpu_percent"))
    time.sleep(0.5)  # several intervals: nothing more may arrive
    assert len(loopml.get_metric_history(run.id, "system/cpu_percent")) == ended_with


def test_the_environment_turns_it_on(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_SYSTEM_METRICS", "1")
    with loopml.start_run(project="p", system_metrics_interval=0.1) as run:
        assert len(_wait_for_samples(run, 2)) >= 2
    with loopml.start_run(project="p", log_system_metrics=False) as quiet:
        pass
    assert not [k for k in loopml.get_run(quiet.id).metrics if k.startswith("system/")]


def test_off_by_default(workspace: Workspace) -> None:
    with loopml.start_run(project="p") as run:
        assert not _sampler_threads()
    assert loopml.get_run(run.id).metrics == {}


@pytest.mark.parametrize("interval", [0, -1.0, float("nan"), "10", True])
def test_a_bad_interval_is_refused_before_the_run_starts(
    workspace: Workspace, interval: object
) -> None:
    active = loopml.current_run()  # None, unless an earlier test left one open
    with pytest.raises(InvalidArgumentError, match="system_metrics_interval"):
        loopml.start_run(project="p", log_system_metrics=True,
                         system_metrics_interval=interval)  # type: ignore[arg-type]  # fmt: skip
    assert list(loopml.search_runs()) == []
    assert loopml.current_run() is active


def test_a_sample_has_io_counters_and_gpus_only_with_nvml() -> None:
    sample = SystemSampler().sample()
    assert all(key.startswith("system/") for key in sample)
    assert all(value >= 0 for value in sample.values())
    has_nvml = importlib.util.find_spec("pynvml") is not None
    if not has_nvml:
        assert not [key for key in sample if key.startswith("system/gpu")]
