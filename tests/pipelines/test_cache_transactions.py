"""Issue 15.12: a cached step costs one read transaction (the lookup, outputs included) and
one write (its run, recorded FINISHED with its params, inputs and outputs); a launched step's
run is one write too. Counted on the SQL store's engine while the orchestrator starts steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

import loopml
from loopml.core.pipelines import StepStatus
from loopml.pipelines.orchestrator import Orchestrator
from loopml.workspace import Workspace


@loopml.step
def first(n: int = 3) -> list:
    return list(range(n))


@loopml.step
def second(values: list, scale: float = 2.0) -> float:
    return sum(values) * scale


@loopml.pipeline
def chain(n: int = 3):
    second(first(n=n), scale=2.0)


@contextmanager
def counted(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The kind ('read' or 'write') of each transaction begun while a step is started."""
    seen: list[str] = []
    starting = [False]

    def on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        if starting[0]:
            seen.append("write" if conn.get_execution_options().get("loopml_write") else "read")

    original = Orchestrator._start

    def start(self: Orchestrator, state) -> None:  # type: ignore[no-untyped-def]
        starting[0] = True
        try:
            original(self, state)
        finally:
            starting[0] = False

    engine = workspace.store.engine  # type: ignore[attr-defined]
    event.listen(engine, "begin", on_begin)
    monkeypatch.setattr(Orchestrator, "_start", start)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", on_begin)


def test_a_cache_hit_is_one_read_and_one_write(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    with counted(workspace, monkeypatch) as seen:
        result = chain.run(n=4, workspace=workspace)
    assert [s.cached for s in result.steps] == [False, False]
    assert seen == ["read", "write"] * 2  # per step: the lookup (a miss), then its run
    with counted(workspace, monkeypatch) as seen:
        again = chain.run(n=4, workspace=workspace)
    assert all(s.cached and s.status is StepStatus.FINISHED for s in again.steps)
    assert seen == ["read", "write"] * 2  # per step: the lookup (a hit), then its run
    assert again.load("second") == 12.0

    hit = again.step("second")
    run = loopml.get_run(hit.run_id, workspace=workspace)
    assert run.status.value == "FINISHED" and run.params == {"scale": "2.0"}
    assert run.tags["loopml.cached"] == "true"
    assert run.tags["loopml.cached_from"] == result.step("second").run_id
    inputs = workspace.store.runs.inputs(hit.run_id)
    assert [(i.kind, i.name, i.version) for i in inputs] == [
        ("artifact", "values", again.step("first").run_id)
    ]
    assert hit.outputs["output"].digest == result.step("second").outputs["output"].digest


def test_without_cache_a_step_run_is_one_write(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    with counted(workspace, monkeypatch) as seen:
        result = chain.run(n=2, cache=False, workspace=workspace)
    assert all(s.status is StepStatus.FINISHED and not s.cached for s in result.steps)
    assert seen == ["write", "write"]
