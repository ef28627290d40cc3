"""The artifact-store conformance suite: every backend (local folder, S3) runs these tests.

A backend's test module subclasses `ArtifactStoreContract` and provides two fixtures: `cas`,
a ContentStore on a fresh, empty root, and `raw`, direct access to the objects under that
root that goes around the store (to corrupt or delete a blob the way a disk or another
client would).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import blake3
import numpy as np
import pandas as pd
import pytest

from loopml.artifacts import objects
from loopml.artifacts.cas import ContentStore, blob_key
from loopml.core.errors import IntegrityError, InvalidArgumentError, NotFoundError


class RawObjects(Protocol):
    """Objects under the store's root by key (`blobs/ab/cdef...`), bypassing the store."""

    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str) -> set[str]: ...  # every key under `prefix`, recursively


def flip_a_byte(raw: RawObjects, digest: str, at: int = 3) -> None:
    data = bytearray(raw.read(blob_key(digest)))
    data[at] ^= 0xFF
    raw.write(blob_key(digest), bytes(data))


class ArtifactStoreContract:
    @pytest.fixture
    def cas(self) -> ContentStore:
        raise NotImplementedError

    @pytest.fixture
    def raw(self, cas: ContentStore) -> RawObjects:
        raise NotImplementedError

    # -- bytes and files --------------------------------------------------------------------
    def test_put_and_get_bytes_by_blake3_digest(self, cas: ContentStore, raw: RawObjects) -> None:
        digest = cas.put_bytes(b"hello")
        assert digest == blake3.blake3(b"hello").hexdigest()
        assert cas.has(digest)
        assert cas.get_bytes(digest) == b"hello"
        assert raw.read(blob_key(digest)) == b"hello"

    def test_empty_blob(self, cas: ContentStore) -> None:
        digest = cas.put_bytes(b"")
        assert cas.get_bytes(digest) == b""

    def test_put_file_and_get_file(self, cas: ContentStore, tmp_path: Path) -> None:
        source = tmp_path / "big.bin"
        source.write_bytes(bytes(range(256)) * 12_000)  # large enough for the threaded hash
        digest = cas.put_file(source)
        assert digest == blake3.blake3(source.read_bytes()).hexdigest()
        dest = cas.get_file(digest, tmp_path / "copy" / "big.bin", what="big.bin")
        assert dest == tmp_path / "copy" / "big.bin"
        assert dest.read_bytes() == source.read_bytes()
        assert cas.get_bytes(digest) == source.read_bytes()

    def test_same_bytes_stored_once(
        self, cas: ContentStore, raw: RawObjects, tmp_path: Path
    ) -> None:
        source = tmp_path / "f.bin"
        source.write_bytes(b"x" * 3_000_000)
        first = cas.put_file(source)
        assert cas.put_bytes(b"x" * 3_000_000) == first
        assert cas.put_file(source) == first
        assert raw.keys("blobs") == {blob_key(first)}

    def test_a_fresh_store_on_the_same_root_reads_the_blobs(self, cas: ContentStore) -> None:
        from loopml.artifacts.factory import open_artifacts

        digest = cas.put_bytes(b"shared")
        again = open_artifacts(cas.uri)
        assert again.has(digest) and again.get_bytes(digest) == b"shared"

    # -- atomic writes ----------------------------------------------------------------------
    def test_a_streamed_blob_appears_only_once_complete(
        self, cas: ContentStore, raw: RawObjects
    ) -> None:
        key = blob_key("2" * 64)
        with cas.blobs.open_write(key) as handle:
            handle.write(b"first half ")
            assert not cas.blobs.exists(key)
            handle.write(b"second half")
        assert raw.read(key) == b"first half second half"

    def test_failed_write_leaves_no_blob(self, cas: ContentStore, raw: RawObjects) -> None:
        key = blob_key("1" * 64)
        with pytest.raises(RuntimeError), cas.blobs.open_write(key) as handle:
            handle.write(b"partial")
            raise RuntimeError("writer died")
        assert not cas.blobs.exists(key)
        assert raw.keys("blobs") == set()

    # -- verification -----------------------------------------------------------------------
    def test_flipped_bytes_fail_the_digest_check(
        self, cas: ContentStore, raw: RawObjects, tmp_path: Path
    ) -> None:
        digest = cas.put_bytes(b"precious model weights")
        flip_a_byte(raw, digest)
        with pytest.raises(IntegrityError, match=r"weights\.bin.*corrupted"):
            cas.get_bytes(digest, what="weights.bin")
        dest = tmp_path / "out" / "weights.bin"
        with pytest.raises(IntegrityError, match=r"weights\.bin.*corrupted"):
            cas.get_file(digest, dest, what="weights.bin")
        assert not dest.exists() and list(dest.parent.iterdir()) == []

    def test_a_corrupted_file_of_a_folder_is_named(
        self, cas: ContentStore, raw: RawObjects, tmp_path: Path
    ) -> None:
        folder = tmp_path / "data"
        (folder / "sub").mkdir(parents=True)
        (folder / "a.txt").write_text("alpha")
        (folder / "sub" / "b.bin").write_bytes(b"beta bytes")
        stored = objects.store(cas, folder)
        flip_a_byte(raw, blake3.blake3(b"beta bytes").hexdigest())
        with pytest.raises(IntegrityError, match=r"features/sub/b\.bin.*corrupted"):
            objects.load(cas, stored, what="features")
        with pytest.raises(IntegrityError, match=r"features/sub/b\.bin.*corrupted"):
            objects.write_out(cas, stored, tmp_path / "out", what="features")
        assert not (tmp_path / "out" / "sub" / "b.bin").exists()

    def test_missing_blob_is_not_found(self, cas: ContentStore, tmp_path: Path) -> None:
        absent = "0" * 64
        assert not cas.has(absent)
        with pytest.raises(NotFoundError, match=r"model.*missing"):
            cas.get_bytes(absent, what="model")
        dest = tmp_path / "out" / "model.bin"
        with pytest.raises(NotFoundError, match=r"model.*missing"):
            cas.get_file(absent, dest, what="model")
        assert not dest.exists()

    def test_a_deleted_blob_is_not_found(self, cas: ContentStore, raw: RawObjects) -> None:
        digest = cas.put_bytes(b"soon gone")
        raw.delete(blob_key(digest))
        assert not cas.has(digest)
        with pytest.raises(NotFoundError, match="missing"):
            cas.get_bytes(digest, what="gone")
        assert cas.put_bytes(b"soon gone") == digest  # stored again, not skipped as present
        assert cas.get_bytes(digest) == b"soon gone"

    def test_only_digests_are_keys(self, cas: ContentStore) -> None:
        with pytest.raises(InvalidArgumentError, match="digest"):
            cas.get_bytes("../../etc/passwd")
        with pytest.raises(InvalidArgumentError, match="digest"):
            cas.has("ABC")

    # -- objects, files and folders ---------------------------------------------------------
    def test_values_by_type(self, cas: ContentStore) -> None:
        frame = pd.DataFrame({"x": [1, 2], "y": ["a", None], "z": [0.5, np.nan]})
        array = np.arange(12, dtype=np.float32).reshape(3, 4)
        for value in (frame, array, {"a": [1, 2.5, None]}, b"\x00raw"):
            back = objects.load(cas, objects.store(cas, value), what="value")
            if isinstance(value, pd.DataFrame):
                pd.testing.assert_frame_equal(back, value)
            elif isinstance(value, np.ndarray):
                np.testing.assert_array_equal(back, value)
            else:
                assert back == value

    def test_file_and_folder(self, cas: ContentStore, tmp_path: Path) -> None:
        folder = tmp_path / "data"
        (folder / "sub").mkdir(parents=True)
        (folder / "a.txt").write_text("alpha")
        (folder / "sub" / "b.bin").write_bytes(b"beta")
        stored = objects.store(cas, folder)
        assert stored.serializer == "dir" and stored.size == 9
        assert objects.load(cas, stored, what="data") == {"a.txt": b"alpha", "sub/b.bin": b"beta"}
        out = objects.write_out(cas, stored, tmp_path / "out", what="data")
        assert (out / "sub" / "b.bin").read_bytes() == b"beta"
        file_stored = objects.store(cas, str(folder / "a.txt"))
        assert file_stored.serializer == "file"
        assert objects.load(cas, file_stored, what="a.txt") == b"alpha"

    def test_changing_one_file_of_a_folder_stores_one_new_blob(
        self, cas: ContentStore, raw: RawObjects, tmp_path: Path
    ) -> None:
        folder = tmp_path / "many"
        folder.mkdir()
        for i in range(20):
            (folder / f"f{i}.txt").write_text(str(i))
        objects.store(cas, folder)
        before = raw.keys("blobs")
        (folder / "f3.txt").write_text("changed")
        objects.store(cas, folder)
        assert len(raw.keys("blobs") - before) == 2  # the changed file and the new manifest

    def test_manifest_paths_cannot_escape_on_write_out(
        self, cas: ContentStore, tmp_path: Path
    ) -> None:
        evil = {"files": {"../../outside.txt": {"digest": cas.put_bytes(b"x"), "size": 1}}}
        digest = cas.put_bytes(json.dumps(evil).encode())
        with pytest.raises(InvalidArgumentError, match="escape"):
            objects.write_out(cas, objects.Stored(digest, "dir", 1), tmp_path / "d", what="evil")
        assert not (tmp_path / "outside.txt").exists()
