"""Dataset versions through the Python API: add, dedupe, load, download, lineage, faults."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.artifacts.cas import blob_key
from loopml.core.errors import IntegrityError, InvalidArgumentError, NotFoundError
from loopml.workspace import Workspace


def write_folder(folder: Path, files: int, *, size: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (folder / f"part-{i:03d}.bin").write_bytes(bytes([i % 256]) * size)
    return folder


def blob_files(workspace: Workspace) -> set[Path]:
    return {p for p in (workspace.root / ".loopml/artifacts/blobs").rglob("*") if p.is_file()}


def test_add_a_tabular_file(workspace: Workspace, tmp_path: Path) -> None:
    frame = pd.DataFrame({"amount": [1.5, 2.5, 10.0], "kind": ["a", "b", "a"], "n": [1, 2, 3]})
    frame.to_parquet(tmp_path / "tx.parquet")
    version = loopml.datasets.add("tx", tmp_path / "tx.parquet")
    assert (version.name, version.version, version.created, version.format) == (
        "tx",
        1,
        True,
        "parquet",
    )
    assert version.files == 1 and len(version.digest) == 64
    assert version.schema.column("amount").type == "float"
    pd.testing.assert_frame_equal(loopml.datasets.load("tx"), frame)
    described = loopml.datasets.get("tx")
    assert described.profile.rows == 3 and described.profile.column("amount").max == 10.0


def test_identical_content_adds_nothing(workspace: Workspace, tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("x,y\n1,2\n")
    first = loopml.datasets.add("d", csv)
    again = loopml.datasets.add("d", csv)
    assert (again.version, again.created, again.digest) == (1, False, first.digest)
    os.utime(csv, ns=(1, 1))  # same bytes, new mtime: rehashed, still the same content
    assert loopml.datasets.add("d", csv).created is False
    csv.write_text("x,y\n1,3\n")
    changed = loopml.datasets.add("d", csv)
    assert (changed.version, changed.created) == (2, True) and changed.digest != first.digest


def test_changing_one_file_of_a_folder_stores_one_blob(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = write_folder(tmp_path / "images", 40)
    loopml.datasets.add("images", folder)
    before = blob_files(workspace)
    (folder / "part-007.bin").write_bytes(b"changed")
    second = loopml.datasets.add("images", folder)
    new = blob_files(workspace) - before
    assert second.version == 2 and second.format == "files"
    assert len(new) == 2  # the changed file and the new manifest


def test_download_and_diff(workspace: Workspace, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "raw", 5)
    loopml.datasets.add("raw", folder)
    (folder / "part-000.bin").write_bytes(b"new")
    (folder / "part-004.bin").unlink()
    (folder / "sub").mkdir()
    (folder / "sub" / "extra.bin").write_bytes(b"x")
    loopml.datasets.add("raw", folder)
    out = loopml.datasets.download("raw", tmp_path / "restored", version=1)
    assert sorted(p.name for p in out.iterdir()) == [f"part-{i:03d}.bin" for i in range(5)]
    assert (out / "part-000.bin").read_bytes() == bytes([0]) * 64
    change = loopml.datasets.diff("raw", 1, 2)
    assert change.added == ("sub/extra.bin",)
    assert change.removed == ("part-004.bin",)
    assert change.changed == ("part-000.bin",)


def test_diff_reports_schema_changes_and_shifts(workspace: Workspace, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    csv = tmp_path / "m.csv"
    pd.DataFrame({"x": rng.normal(0, 1, 500), "c": rng.choice(["a", "b"], 500)}).to_csv(
        csv, index=False
    )
    loopml.datasets.add("m", csv)
    frame = pd.DataFrame({"x": rng.normal(3, 1, 500), "c": rng.choice(["a", "b", "z"], 500)})
    frame.assign(extra=1).to_csv(csv, index=False)
    loopml.datasets.add("m", csv)
    change = loopml.datasets.diff("m", 1, 2)
    assert any("'extra' added" in c for c in change.schema_changes)
    assert any("new categories: z" in c for c in change.schema_changes)
    assert change.shifts[0].column == "x" and change.shifts[0].score > 2


def test_lineage_producer_and_consumers(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("v\n1\n")
    with loopml.start_run(project="p", name="ingest") as ingest:
        made = loopml.datasets.add("a", tmp_path / "a.csv")
    with loopml.start_run(project="p", name="train") as train:
        train.use_dataset("a")
    assert made.producer_run_id == ingest.id
    assert loopml.datasets.produced_by(ingest.id) == [made]
    lineage = loopml.datasets.lineage("a")
    assert lineage.producer_run_id == ingest.id and lineage.consumer_run_ids == (train.id,)


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("a,b\n1,2\n3\n", "a.csv")],
)
def test_bad_tabular_input_records_nothing(
    workspace: Workspace, tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "a.csv").write_text(content)
    with pytest.raises(InvalidArgumentError, match=message):
        loopml.datasets.add("bad", tmp_path / "a.csv")
    with pytest.raises(NotFoundError):
        loopml.datasets.get("bad")


def test_truncated_parquet_records_nothing(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"x": range(1000)}).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InvalidArgumentError, match=r"t\.parquet"):
        loopml.datasets.add("t", path)
    assert workspace.store.datasets.list_latest() == []


def test_missing_path_and_symlinks(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        loopml.datasets.add("x", tmp_path / "nope")
    folder = write_folder(tmp_path / "linked", 2)
    (folder / "out").symlink_to("/etc/hostname")
    with pytest.raises(InvalidArgumentError, match="symbolic link"):
        loopml.datasets.add("x", folder)
    with pytest.raises(InvalidArgumentError, match="dataset name"):
        loopml.datasets.add("../x", write_folder(tmp_path / "ok", 1))


def test_corrupted_blob_fails_load_and_download(workspace: Workspace, tmp_path: Path) -> None:
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(tmp_path / "c.csv", index=False)
    version = loopml.datasets.add("c", tmp_path / "c.csv")
    [entry] = __import__("loopml.data.versions", fromlist=["x"]).read_manifest(
        workspace.artifacts, version
    )
    blob = workspace.artifacts.blobs.local_path(blob_key(entry.digest))
    blob.write_bytes(b"x\n9\n9\n9\n")
    with pytest.raises(IntegrityError, match=r"c\.csv"):
        loopml.datasets.load("c")
    with pytest.raises(IntegrityError, match="corrupted"):
        loopml.datasets.download("c", tmp_path / "out")
    assert not (tmp_path / "out" / "c.csv").exists()


def test_download_refuses_paths_that_escape(workspace: Workspace, tmp_path: Path) -> None:
    import json

    from loopml.core.datasets import ManifestEntry  # noqa: F401

    payload = workspace.artifacts.put_bytes(b"evil")
    manifest = json.dumps({"files": [["../../escaped.txt", payload, 4]]}).encode()
    digest = workspace.artifacts.put_bytes(manifest)
    workspace.store.datasets.create_version("evil", digest=digest, files=1, size=4, format="files")
    with pytest.raises(InvalidArgumentError, match="escape"):
        loopml.datasets.download("evil", tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()


def test_validate_against_the_schema(workspace: Workspace, tmp_path: Path) -> None:
    frame = pd.DataFrame({"amount": [1.0, 2.0, 3.0] * 10, "kind": ["a", "b", "c"] * 10})
    frame.to_csv(tmp_path / "v.csv", index=False)
    loopml.datasets.add("v", tmp_path / "v.csv")
    assert loopml.datasets.validate("v", frame).ok
    broken = frame.drop(columns=["amount"])
    report = loopml.datasets.validate("v", broken)
    assert not report.ok and [a.kind for a in report.errors] == ["missing_column"]


def test_spark_style_folder_is_tabular(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "spark"
    folder.mkdir()
    pd.DataFrame({"x": [1, 2]}).to_parquet(folder / "part-0.parquet")
    pd.DataFrame({"x": [3]}).to_parquet(folder / "part-1.parquet")
    (folder / "_SUCCESS").write_bytes(b"")
    version = loopml.datasets.add("spark", folder)
    assert (version.format, version.files) == ("parquet", 3)
    assert loopml.datasets.load("spark")["x"].tolist() == [1, 2, 3]
