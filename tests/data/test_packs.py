"""Packs (many small blobs in one) and the fast paths of a dataset add."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest

import loopml
from loopml.artifacts.cas import ContentStore, blob_key
from loopml.artifacts.factory import open_artifacts
from loopml.artifacts.hashing import ChangedError
from loopml.core.errors import IntegrityError, NotFoundError
from loopml.workspace import Workspace


@pytest.fixture(params=["local", "s3"])
def cas(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    if request.param == "local":
        return open_artifacts(str(tmp_path / "store"))
    try:
        uri = request.getfixturevalue("s3_artifact_uri")
    except pytest.FixtureLookupError:
        pytest.skip("no S3 fixture in this checkout")
    return open_artifacts(uri)


def members(count: int) -> list[bytes]:
    return [f"member {i} ".encode() * (i + 1) for i in range(count)]


def test_packed_blobs_read_back_verified(cas: ContentStore, tmp_path: Path) -> None:
    data = members(50)
    digests = [blake3.blake3(m).hexdigest() for m in data]
    assert cas.missing(digests) == digests
    assert cas.put_pack(data) == digests
    assert cas.missing(digests) == [] and all(cas.has(d) for d in digests)
    assert not cas.blobs.exists(blob_key(digests[7]))  # not a blob of its own
    assert cas.get_bytes(digests[7]) == data[7]
    out = cas.get_file(digests[3], tmp_path / "out" / "m3.bin")
    assert out.read_bytes() == data[3]
    fresh = open_artifacts(cas.uri)  # another process: finds the members through the index
    assert fresh.has(digests[49]) and fresh.get_bytes(digests[49]) == data[49]


def test_a_pack_written_by_another_store_is_found_on_read(cas: ContentStore) -> None:
    reader = open_artifacts(cas.uri)
    assert not reader.has("0" * 64)  # the reader has listed the (empty) packs once
    [digest] = open_artifacts(cas.uri).put_pack([b"written elsewhere"])
    assert reader.get_bytes(digest) == b"written elsewhere"


def test_a_corrupted_pack_fails_the_member_check(cas: ContentStore, tmp_path: Path) -> None:
    data = members(10)
    digests = cas.put_pack(data)
    [index_key] = cas.blobs.list_keys("packs")
    pack = index_key.removeprefix("packs/").removesuffix(".json")
    raw = bytearray(cas.blobs.get_bytes(blob_key(pack)))
    raw[len(data[0]) + 2] ^= 0xFF  # inside the second member
    cas.blobs.put_bytes(blob_key(pack), bytes(raw))
    assert cas.get_bytes(digests[0]) == data[0]
    with pytest.raises(IntegrityError, match=r"m1\.bin.*corrupted"):
        cas.get_bytes(digests[1], what="m1.bin")
    dest = tmp_path / "out" / "m1.bin"
    with pytest.raises(IntegrityError, match="corrupted"):
        cas.get_file(digests[1], dest, what="m1.bin")
    assert not dest.exists()


def test_a_missing_pack_or_index(cas: ContentStore) -> None:
    digests = cas.put_pack(members(5))
    [index_key] = cas.blobs.list_keys("packs")
    pack = index_key.removeprefix("packs/").removesuffix(".json")
    cas.blobs.delete(blob_key(pack))
    with pytest.raises(NotFoundError, match=r"x.*missing"):
        open_artifacts(cas.uri).get_bytes(digests[0], what="x")
    cas.blobs.delete(index_key)
    fresh = open_artifacts(cas.uri)
    assert not fresh.has(digests[0])  # no index, no member: stored again on the next add
    assert fresh.missing(digests) == digests


def test_put_file_refuses_a_source_that_changed(tmp_path: Path) -> None:
    cas = open_artifacts(str(tmp_path / "store"))
    source = tmp_path / "f.bin"
    source.write_bytes(b"abc")
    stat = source.stat()
    key = blob_key("3" * 64)
    with pytest.raises(ChangedError):
        cas.blobs.put_file(key, source, expect=(stat.st_size + 1, stat.st_mtime_ns))
    assert not cas.blobs.exists(key)
    cas.blobs.put_file(key, source, expect=(stat.st_size, stat.st_mtime_ns))
    assert cas.blobs.get_bytes(key) == b"abc"


def write_many(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        sub = folder / f"part-{i // 100}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i:04d}.bin").write_bytes(os.urandom(100) + i.to_bytes(4, "big"))
    return folder


def store_files(workspace: Workspace) -> set[str]:
    root = workspace.root / ".loopml" / "artifacts"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_a_folder_of_small_files_is_packed_and_restored(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = write_many(tmp_path / "many", 300)
    version = loopml.datasets.add("many", folder)
    stored = store_files(workspace)
    assert len([k for k in stored if k.startswith("packs/")]) == 1
    assert len([k for k in stored if k.startswith("blobs/")]) == 2  # the pack, the manifest
    out = loopml.datasets.download("many", tmp_path / "restored")
    for path in folder.rglob("*.bin"):
        assert (out / path.relative_to(folder)).read_bytes() == path.read_bytes()
    assert version.files == 300

    (folder / "part-1" / "f0105.bin").write_bytes(b"changed")
    second = loopml.datasets.add("many", folder)
    assert (second.version, second.created) == (2, True)
    new = store_files(workspace) - stored
    assert len(new) == 2  # the changed file (one blob of its own) and the new manifest


def test_re_adding_an_unchanged_folder_writes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    folder = write_many(tmp_path / "same", 120)
    loopml.datasets.add("same", folder)
    cache = workspace.root / ".loopml" / "cache"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    stored = store_files(workspace)
    again = loopml.datasets.add("same", folder)
    assert (again.version, again.created) == (1, False)
    assert store_files(workspace) == stored
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if not p.name.endswith(("-wal", "-shm"))} == {
        p: t for p, t in before.items() if not p.name.endswith(("-wal", "-shm"))
    }
    os.utime(folder / "part-0" / "f0001.bin", ns=(1, 1))  # same bytes, new listing
    assert loopml.datasets.add("same", folder).created is False
    (folder / "part-0" / "f0002.bin").write_bytes(b"other")
    assert loopml.datasets.add("same", folder).version == 2


def test_a_new_latest_elsewhere_is_not_mistaken_for_unchanged(
    workspace: Workspace, tmp_path: Path
) -> None:
    first = write_many(tmp_path / "a", 70)
    other = write_many(tmp_path / "b", 70)
    loopml.datasets.add("d", first)
    loopml.datasets.add("d", other)  # latest is now b's content
    back = loopml.datasets.add("d", first)  # a's listing is cached, but it is not the latest
    assert (back.version, back.created) == (3, True)
