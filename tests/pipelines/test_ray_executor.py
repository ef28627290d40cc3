"""Pipelines on a real Ray cluster (2 CPUs, loopback), with the artifacts on a real S3 server.

The workers are other processes: they reach the metadata store through the workspace's SQLite
file and the artifacts through S3 (endpoint and keys forwarded from this process's env).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pandas as pd
import pytest

import loopml
from loopml.core.entities import RunStatus
from loopml.core.pipelines import StepStatus
from loopml.workspace import Workspace
from tests.fixtures_ray import RayCluster
from tests.fixtures_s3 import S3Server

if TYPE_CHECKING:
    from loopml.pipelines.executors.ray import RayExecutor

pytestmark = pytest.mark.slow


@loopml.step
def ingest(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame({"x": range(n), "y": [i % 2 for i in range(n)]})


class Split(NamedTuple):
    train: pd.DataFrame
    test: pd.DataFrame


@loopml.step
def split(frame: pd.DataFrame, frac: float = 0.5) -> Split:
    k = int(len(frame) * frac)
    return Split(frame.iloc[:k], frame.iloc[k:])


@loopml.step
def fit(frame: pd.DataFrame, c: float = 1.0) -> dict:
    run = loopml.current_run()
    assert run is not None
    run.log_metric("rows", len(frame))
    return {"mean": float(frame["x"].mean()), "c": c, "pid": os.getpid()}


@loopml.step
def score(model: dict, test: pd.DataFrame) -> float:
    return model["mean"] / (1 + len(test))


@loopml.step
def explode(frame: pd.DataFrame) -> float:
    raise ValueError(f"bad batch of {len(frame)} rows")


@loopml.step
def die(frame: pd.DataFrame) -> float:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0.0


@loopml.pipeline
def training(n: int = 10, c: float = 1.0):
    frame = ingest(n=n)
    parts = split(frame)
    score(fit(parts.train, c=c), parts.test)
    score(fit(parts.test, c=c * 2), test=parts.train)  # a second branch, in parallel


@loopml.pipeline
def failing(n: int = 4):
    explode(ingest(n=n))


@loopml.pipeline
def crashing(n: int = 4):
    die(ingest(n=n))


@pytest.fixture
def s3_workspace(
    s3_artifact_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """Metadata in the local SQLite file, artifacts under a fresh S3 prefix."""
    monkeypatch.setenv("LOOPML_ARTIFACT_URI", s3_artifact_uri)
    ws = Workspace.init(tmp_path)
    yield ws
    ws.close()


@pytest.fixture
def executor(ray_cluster: RayCluster) -> Iterator[RayExecutor]:
    from loopml.pipelines.executors.ray import RayExecutor

    with RayExecutor(address=ray_cluster.address) as ray_executor:
        yield ray_executor


def test_steps_run_on_ray_and_a_second_run_is_cached(
    executor: RayExecutor, s3_workspace: Workspace, s3_server: S3Server
) -> None:
    assert s3_workspace.artifacts.uri.startswith("s3://")
    result = training.run(n=20, executor=executor, workspace=s3_workspace)
    assert result.status is RunStatus.FINISHED, result.error
    names = ["ingest", "split", "fit", "score", "fit_2", "score_2"]
    assert [s.name for s in result.steps] == names
    assert all(s.status is StepStatus.FINISHED and not s.cached for s in result.steps)

    frame = ingest.fn(20)
    pd.testing.assert_frame_equal(result.load("ingest"), frame)
    pd.testing.assert_frame_equal(result.load("split", "test"), frame.iloc[10:])
    model = result.load("fit")
    assert (model["mean"], model["c"]) == (4.5, 1.0)
    assert model["pid"] != os.getpid()  # it ran in a Ray worker, not here
    assert result.load("score") == 4.5 / 11
    assert result.load("score_2") == 14.5 / 11
    fit_run = loopml.get_run(result.step("fit").run_id, workspace=s3_workspace)
    assert fit_run.metrics == {"rows": 10.0}  # logged by the worker into the SQLite store

    digest = result.step("ingest").outputs["output"].digest
    root = s3_workspace.artifacts.uri.removeprefix("s3://")
    assert s3_server.filesystem().exists(f"{root}/blobs/{digest[:2]}/{digest[2:]}")

    again = training.run(n=20, executor=executor, workspace=s3_workspace)
    assert again.status is RunStatus.FINISHED
    assert all(s.cached and s.status is StepStatus.FINISHED for s in again.steps)
    assert again.load("score") == result.load("score")


def test_a_failing_step_is_failed_with_its_traceback(
    executor: RayExecutor, s3_workspace: Workspace
) -> None:
    result = failing.run(n=4, executor=executor, workspace=s3_workspace)
    assert result.status is RunStatus.FAILED
    assert result.step("ingest").status is StepStatus.FINISHED
    step = result.step("explode")
    assert step.status is StepStatus.FAILED
    assert step.error is not None
    assert "Traceback" in step.error
    assert "in explode" in step.error
    assert "ValueError: bad batch of 4 rows" in step.error
    run = loopml.get_run(step.run_id, workspace=s3_workspace)
    assert run.status is RunStatus.FAILED


def test_a_killed_worker_fails_its_step(executor: RayExecutor, s3_workspace: Workspace) -> None:
    result = crashing.run(n=4, executor=executor, workspace=s3_workspace)
    assert result.status is RunStatus.FAILED
    step = result.step("die")
    assert step.status is StepStatus.FAILED
    assert step.error is not None and "Ray worker died" in step.error
    assert loopml.get_run(step.run_id, workspace=s3_workspace).status is RunStatus.FAILED
