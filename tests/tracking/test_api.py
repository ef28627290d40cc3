"""The tracking API in one process: lifecycle, logging, artifacts, search, capture."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import loopml
from loopml.artifacts.cas import blob_key
from loopml.artifacts.hashing import digest_bytes
from loopml.core.entities import RunStatus
from loopml.core.errors import (
    ConflictError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
)
from loopml.workspace import Workspace


def test_context_manager_finishes_the_run(workspace: Workspace) -> None:
    with loopml.start_run(project="iris", name="baseline", tags={"team": "ml"}) as run:
        run.log_params({"C": 1.0, "kernel": "rbf"})
        run.log_metric("acc", 0.93, step=0)
        run.log_metrics({"acc": 0.95, "loss": 0.1}, step=1)
        assert loopml.current_run() is run
    assert loopml.current_run() is None
    got = loopml.get_run(run.id)
    assert (got.project, got.name, got.status) == ("iris", "baseline", RunStatus.FINISHED)
    assert got.params == {"C": "1.0", "kernel": "rbf"}
    assert got.metrics == {"acc": 0.95, "loss": 0.1}
    assert got.tags == {"team": "ml"}
    assert got.end_time is not None and got.end_time >= got.start_time
    history = loopml.get_metric_history(run.id, "acc")
    assert [(m.step, m.value) for m in history] == [(0, 0.93), (1, 0.95)]


def test_exception_marks_failed_with_the_error(workspace: Workspace) -> None:
    with pytest.raises(ZeroDivisionError), loopml.start_run(project="p") as run:
        run.log_metric("before", 1.0)
        1 / 0  # noqa: B018
    got = loopml.get_run(run.id)
    assert got.status is RunStatus.FAILED
    assert "ZeroDivisionError" in got.error and got.metrics == {"before": 1.0}


def test_keyboard_interrupt_marks_killed(workspace: Workspace) -> None:
    with pytest.raises(KeyboardInterrupt), loopml.start_run(project="p") as run:
        raise KeyboardInterrupt
    assert loopml.get_run(run.id).status is RunStatus.KILLED


def test_plain_call_and_end(workspace: Workspace) -> None:
    run = loopml.start_run(project="p", name="manual")
    run.log_metric("x", 2.0)
    assert loopml.get_run(run.id).status is RunStatus.RUNNING
    run.end()
    run.end()  # ending twice does nothing
    assert loopml.get_run(run.id).status is RunStatus.FINISHED
    assert loopml.get_run(run.id).metrics == {"x": 2.0}
    with pytest.raises(InvalidArgumentError, match="ended"):
        run.log_metric("x", 3.0)


def test_metrics_are_flushed_in_the_background(workspace: Workspace) -> None:
    with loopml.start_run(project="p") as run:
        run.log_metric("loss", 0.5)
        deadline = time.monotonic() + 10
        while not workspace.store.runs.metric_history(run.id, "loss"):
            assert time.monotonic() < deadline, "metrics were not flushed within 10 s"
            time.sleep(0.05)


def test_steps_default_to_one_past_the_last(workspace: Workspace) -> None:
    with loopml.start_run(project="p") as run:
        for value in (3.0, 2.0, 1.0):
            run.log_metric("loss", value)
        run.log_metric("loss", 0.5, step=10)
        run.log_metric("loss", 0.4)
    steps = [m.step for m in loopml.get_metric_history(run.id, "loss")]
    assert steps == [0, 1, 2, 10, 11]


def test_nan_and_inf_metrics_are_kept(workspace: Workspace) -> None:
    with loopml.start_run(project="p") as run:
        run.log_metrics({"a": float("nan"), "b": float("inf"), "c": np.float32(0.5)})
    metrics = loopml.get_run(run.id).metrics
    assert np.isnan(metrics["a"]) and metrics["b"] == float("inf") and metrics["c"] == 0.5


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("", 1.0, "empty"), ("k" * 251, 1.0, "250"), ("acc%", 1.0, "'%'"),
     ("acc", "high", "real number"), ("acc", True, "real number")],
)  # fmt: skip
def test_bad_metrics_are_refused(
    workspace: Workspace, key: str, value: object, message: str
) -> None:
    with loopml.start_run(project="p") as run, pytest.raises(InvalidArgumentError, match=message):
        run.log_metric(key, value)  # type: ignore[arg-type]


def test_param_conflict_and_unknown_ids(workspace: Workspace) -> None:
    with loopml.start_run(project="p") as run:
        run.log_param("C", 1)
        with pytest.raises(ConflictError, match="write-once"):
            run.log_param("C", 2)
    with pytest.raises(NotFoundError, match="0123"):
        loopml.get_run("0123")
    with pytest.raises(NotFoundError, match="no-such-project"):
        loopml.search_runs(project="no-such-project")


def test_artifacts_roundtrip_and_digest_check(workspace: Workspace) -> None:
    matrix = np.array([[5, 1], [0, 7]])
    with loopml.start_run(project="p") as run:
        ref = run.log_artifact("confusion", matrix)
        run.log_artifact("config", {"layers": [64, 32]})
        run.log_text("notes/readme", "hello")
    np.testing.assert_array_equal(loopml.load_artifact(run.id, "confusion"), matrix)
    assert loopml.load_artifact(run.id, "config") == {"layers": [64, 32]}
    assert loopml.load_artifact(run.id, "notes/readme") == b"hello"
    path = workspace.artifacts.blobs.local_path(blob_key(ref.digest))
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="confusion"):
        loopml.load_artifact(run.id, "confusion")
    with pytest.raises(NotFoundError, match="absent"):
        loopml.load_artifact(run.id, "absent")


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "%2e%2e%2f", "%252e%252e%252f", "..\\x", "/etc/passwd", "C:\\x",
     "a\x00b", "a\nb"],
)  # fmt: skip
def test_escaping_artifact_names_write_nothing(
    workspace: Workspace, tmp_path: Path, name: str
) -> None:
    before = set(tmp_path.rglob("*"))
    with loopml.start_run(project="p") as run, pytest.raises(InvalidArgumentError, match="name"):
        run.log_artifact(name, b"payload")
    assert workspace.store.runs.artifacts(run.id) == []
    assert not workspace.artifacts.has(digest_bytes(b"payload"))
    created = set(tmp_path.rglob("*")) - before
    assert all(p.relative_to(tmp_path).parts[0] == ".loopml" for p in created)


def test_folder_artifact_download(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "model_dir"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x01\x02")
    with loopml.start_run(project="p") as run:
        run.log_artifact("model", folder)
    dest = loopml.download_artifact(run.id, "model", tmp_path / "restored")
    assert (dest / "weights.bin").read_bytes() == b"\x01\x02"


def test_nested_runs_record_their_parent(workspace: Workspace) -> None:
    with loopml.start_run(project="p", name="outer") as outer:
        with loopml.start_run(project="p", name="inner") as inner:
            assert loopml.current_run() is inner
        assert loopml.current_run() is outer
    assert loopml.get_run(inner.id).parent_run_id == outer.id
    assert loopml.get_run(outer.id).parent_run_id is None


def test_use_dataset_records_the_resolved_version(workspace: Workspace, tmp_path: Path) -> None:
    for content in ("a,b\n1,2\n", "a,b\n3,4\n"):
        (tmp_path / "iris.csv").write_text(content)
        loopml.datasets.add("iris", tmp_path / "iris.csv")
    with loopml.start_run(project="p") as run:
        used = run.use_dataset("iris")  # "latest" is resolved to a number and a digest now
        run.use_dataset("iris", version=1)
        with pytest.raises(NotFoundError, match="ghost"):
            run.use_dataset("ghost")
    inputs = sorted(workspace.store.runs.inputs(run.id), key=lambda i: i.version)
    assert [(i.kind, i.name, i.version) for i in inputs] == [
        ("dataset", "iris", "1"), ("dataset", "iris", "2"),
    ]  # fmt: skip
    assert inputs[1].digest == used.digest
    assert [v.version for v in loopml.datasets.used_by(run.id)] == [1, 2]


def test_search_runs(workspace: Workspace) -> None:
    for c, acc in [(0.1, 0.8), (1.0, 0.93), (1.0, 0.95), (10.0, 0.91)]:
        with loopml.start_run(project="iris") as run:
            run.log_params({"C": c})
            run.log_metric("acc", acc)
    found = loopml.search_runs(
        project="iris",
        filter="metrics.acc > 0.9 and params.C = '1.0'",
        order_by=["metrics.acc DESC"],
    )
    assert [r.metrics["acc"] for r in found] == [0.95, 0.93]
    page = loopml.search_runs(project="iris", order_by="metrics.acc", limit=3)
    assert len(page) == 3 and page.next_page_token
    rest = loopml.search_runs(
        project="iris", order_by="metrics.acc", page_token=page.next_page_token
    )
    assert [r.metrics["acc"] for r in rest] == [0.95]


def test_code_and_environment_are_captured(workspace: Workspace, tmp_path: Path) -> None:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=tmp_path, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    git("init", "-q")
    (tmp_path / "train.py").write_text("print('v1')\n")
    git("add", "train.py")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "v1")
    (tmp_path / "train.py").write_text("print('v2')\n")
    with loopml.start_run(project="p") as run:
        pass
    got = loopml.get_run(run.id)
    assert got.code.commit == git("rev-parse", "HEAD")
    diff = workspace.artifacts.get_bytes(got.code.diff_digest)
    assert b"+print('v2')" in diff
    assert got.python_version and got.env_digest
    packages = workspace.artifacts.get_bytes(got.env_digest).decode()
    assert "sqlalchemy==" in packages


def test_first_run_in_a_fresh_folder_creates_a_workspace(tmp_path: Path) -> None:
    with loopml.start_run(project="p") as run:
        run.log_metric("x", 1.0)
    assert (tmp_path / ".loopml" / "loopml.db").exists()
    assert loopml.get_run(run.id).metrics == {"x": 1.0}


def test_workspace_found_from_a_subfolder(
    workspace: Workspace, tmp_path: Path, monkeypatch
) -> None:
    with loopml.start_run(project="p") as run:
        pass
    nested = tmp_path / "src" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    assert loopml.get_run(run.id).id == run.id
