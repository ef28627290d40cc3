"""Issue 15.12 through a real server: a pipeline's second run is served from the cache (the
lookup is runs.finished_with_tag, each hit one runs.create with its outputs and status)."""

from __future__ import annotations

from pathlib import Path

import pytest

import loopml
from loopml.core.auth import Role
from loopml.core.pipelines import StepStatus


@loopml.step
def numbers(n: int = 3) -> list:
    return list(range(n))


@loopml.step
def total(values: list, scale: float = 1.0) -> float:
    return sum(values) * scale


@loopml.pipeline
def summed(n: int = 3):
    total(numbers(n=n), scale=0.5)


def test_a_pipeline_is_cached_through_the_server(
    served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, workspace = served
    token = workspace.store.auth.create_token("alice", role=Role.EDITOR)
    here = tmp_path / "client"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("LOOPML_SERVER_URI", server.url)
    monkeypatch.setenv("LOOPML_TOKEN", token)
    first = summed.run(n=5)
    assert [s.cached for s in first.steps] == [False, False] and first.load("total") == 5.0
    again = summed.run(n=5)
    assert all(s.cached and s.status is StepStatus.FINISHED for s in again.steps)
    assert again.load("total") == 5.0
    hit = workspace.store.runs.get(again.step("total").run_id)  # in the server's own store
    assert hit.status.value == "FINISHED" and hit.params == {"scale": "0.5"}
    assert [i.version for i in workspace.store.runs.inputs(hit.id)] == [
        again.step("numbers").run_id
    ]
    other = summed.run(n=6)  # another parameter: computed again
    assert [s.cached for s in other.steps] == [False, False]
