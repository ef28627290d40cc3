"""`loopml gc` on real blobs: what is referenced survives and still loads, what is not is
freed (bytes counted right), the grace period protects recent blobs, packs go when empty."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.artifacts import gc
from loopml.artifacts.cas import blob_key
from loopml.automation.retention import collect_garbage
from loopml.workspace import Workspace


def _age(ws: Workspace, seconds: float = 7200) -> None:
    """Make every blob and pack index look written `seconds` ago."""
    root = Path(ws.artifacts.blobs.root)
    past = time.time() - seconds
    for folder in ("blobs", "packs"):
        for path in (root / folder).rglob("*"):
            if path.is_file():
                os.utime(path, (past, past))


def _stored(ws: Workspace, digest: str) -> bool:
    return ws.artifacts.has(digest)


def test_gc_keeps_referenced_frees_the_rest(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace
    folder = tmp_path / "files"
    folder.mkdir()
    for i in range(5):
        (folder / f"part-{i}.txt").write_text(f"small file {i}\n")  # small: packed
    with loopml.start_run(project="p") as kept:
        kept.log_artifact("config", {"lr": 0.1})
        kept.log_artifact("folder", folder)
        X = pd.DataFrame(np.arange(20.0).reshape(10, 2), columns=["x0", "x1"])
        y = np.array([0, 1] * 5)
        version = loopml.registry.register("clf", LogisticRegression().fit(X, y), run=kept)
    with loopml.start_run(project="p") as gone:
        big = gone.log_artifact("big", os.urandom(300_000))  # loose: over the pack limit
    pd.DataFrame({"a": range(50)}).to_csv(tmp_path / "t.csv", index=False)
    loopml.datasets.add("tab", tmp_path / "t.csv")
    dataset_files = tmp_path / "ds"
    dataset_files.mkdir()
    for i in range(4):
        (dataset_files / f"f{i}.csv").write_text(f"a\n{i}\n")
    removed = loopml.datasets.add("tiny", dataset_files)
    orphan = ws.artifacts.put_bytes(os.urandom(1000))
    loopml.delete_run(gone.id)
    loopml.datasets.delete("tiny", removed.version)
    _age(ws)
    young = ws.artifacts.put_bytes(b"written a moment ago")

    dry = collect_garbage(ws, older_than=0, dry_run=True)
    assert dry.dry_run and gone.id in dry.purged_runs
    assert _stored(ws, big.digest) and _stored(ws, orphan)  # nothing deleted
    assert loopml.get_run(gone.id).deleted_time is not None

    report = collect_garbage(ws, older_than=0)
    assert report.purged_runs == (gone.id,)
    assert not _stored(ws, big.digest) and not _stored(ws, orphan)
    assert _stored(ws, young) and report.blobs_young >= 1
    assert report.bytes_freed >= 300_000 + 1000
    # What is referenced still loads, verified by digest.
    assert loopml.load_artifact(kept.id, "config") == {"lr": 0.1}
    files = loopml.load_artifact(kept.id, "folder")
    assert files["part-3.txt"] == b"small file 3\n"
    model = loopml.registry.load(f"clf/{version.version}")
    assert len(model.predict(X)) == 10
    assert list(loopml.datasets.load("tab")["a"]) == list(range(50))

    again = collect_garbage(ws, older_than=0)
    assert (again.blobs_deleted, again.bytes_freed, again.purged_runs) == (0, 0, ())


def test_bytes_freed_is_the_sum_of_sizes(workspace: Workspace) -> None:
    ws = workspace
    sizes = [300_000, 400_001, 12_345]
    digests = [ws.artifacts.put_bytes(os.urandom(n)) for n in sizes]
    _age(ws)
    before = gc.collect(ws.artifacts, ws.store.retention.referenced_digests, grace_seconds=60)
    assert before.deleted >= 3 and before.bytes_freed >= sum(sizes)
    assert not any(_stored(ws, d) for d in digests)


def test_grace_period_protects_a_run_in_progress(workspace: Workspace) -> None:
    ws = workspace
    # A run uploaded a blob and has not recorded it yet: unreferenced, but recent.
    pending = ws.artifacts.put_bytes(os.urandom(5000))
    report = collect_garbage(ws, grace=3600)
    assert _stored(ws, pending) and report.blobs_young >= 1
    # Found already stored by a later writer: its time is refreshed, so it is young again.
    _age(ws)
    assert ws.artifacts.put_bytes(ws.artifacts.get_bytes(pending)) == pending
    collect_garbage(ws, grace=3600)
    assert _stored(ws, pending)
    _age(ws)
    collect_garbage(ws, grace=3600)
    assert not _stored(ws, pending)


def test_empty_pack_is_deleted_live_pack_kept(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace
    for name in ("keep", "drop"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(70):  # enough small files to be stored as a pack
            (folder / f"{name}{i:02d}.csv").write_text(f"a\n{name}{i:02d}\n")
        loopml.datasets.add(name, folder)
    packs_before = list((Path(ws.artifacts.blobs.root) / "packs").glob("*.json"))
    assert len(packs_before) == 2
    loopml.datasets.delete("drop", 1)
    _age(ws)
    report = collect_garbage(ws)
    packs_after = list((Path(ws.artifacts.blobs.root) / "packs").glob("*.json"))
    assert len(packs_after) == 1 and report.blobs_deleted >= 2
    frame = loopml.datasets.load("keep")
    assert sorted(frame["a"]) == [f"keep{i:02d}" for i in range(70)]


def test_a_pack_indexed_again_recently_is_kept(workspace: Workspace, tmp_path: Path) -> None:
    ws = workspace
    folder = tmp_path / "again"
    folder.mkdir()
    for i in range(70):
        (folder / f"r{i:02d}.csv").write_text(f"a\n{i}\n")
    loopml.datasets.add("again", folder)
    loopml.datasets.delete("again", 1)
    _age(ws)
    index = next((Path(ws.artifacts.blobs.root) / "packs").glob("*.json"))
    os.utime(index)  # a writer stored the same pack again a moment ago
    collect_garbage(ws)
    assert index.exists()
    _age(ws)
    collect_garbage(ws)
    assert not index.exists()


def test_gc_refuses_negative_periods(workspace: Workspace) -> None:
    with pytest.raises(loopml.InvalidArgumentError, match="negative"):
        collect_garbage(workspace, grace=-1)


def test_blob_key_layout_matches_gc_listing(workspace: Workspace) -> None:
    digest = workspace.artifacts.put_bytes(b"x" * 10)
    assert blob_key(digest).startswith(f"blobs/{digest[:2]}/")


def test_the_controller_applies_prediction_retention(workspace: Workspace) -> None:
    from datetime import UTC, datetime, timedelta

    from loopml.automation.controller import Controller
    from loopml.core.project_config import parse_project_config
    from loopml.core.serving import Prediction, RouteMode

    now = datetime.now(UTC)
    rows = [
        Prediction(id=f"{i:032x}", deployment="api", model="m", version=1,
                   route=RouteMode.PRIMARY, time=now - timedelta(days=age), features={"x": 1},
                   output=0, latency_ms=1.0)
        for i, age in enumerate((40, 35, 1, 0))
    ]  # fmt: skip
    workspace.store.predictions.log(rows)
    config = parse_project_config({"deployments": {"api": {"retention": "30d"}}})
    assert config.retention == {"api": 30 * 86400.0}
    controller = Controller(workspace, config)
    assert controller.run_once() == []
    assert [p.id for p in workspace.store.predictions.query(deployment="api")] == [
        f"{2:032x}", f"{3:032x}",
    ]  # fmt: skip
    events = workspace.store.audit.events(action="predictions.expire")
    assert len(events) == 1 and events[0].details["predictions"] == 2


def test_retention_setting_is_checked() -> None:
    from loopml.core.project_config import ProjectConfigError, parse_project_config

    with pytest.raises(ProjectConfigError, match=r"deployments\.api\.retention"):
        parse_project_config({"deployments": {"api": {"retention": "soon"}}})
    with pytest.raises(ProjectConfigError, match="longer than zero"):
        parse_project_config({"deployments": {"api": {"retention": 0}}})
    assert parse_project_config({"deployments": {"api": {"replicas": 2}}}).retention == {}


def test_gc_beside_a_concurrent_writer(workspace: Workspace) -> None:
    import threading

    ws = workspace
    _age(ws)
    logged: list[tuple[str, bytes]] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(15):
                data = os.urandom(1000 + i)
                with loopml.start_run(project="busy") as run:
                    run.log_artifact("data", data)
                logged.append((run.id, data))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    for _ in range(5):
        collect_garbage(ws)  # default grace: nothing just written is collected
    writer.join(timeout=120)
    assert not errors and len(logged) == 15
    for run_id, data in logged:
        assert loopml.load_artifact(run_id, "data") == data
