"""The artifact-store contract on a local folder, plus what only a local folder has."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loopml.artifacts.cas import ContentStore, blob_key
from loopml.artifacts.factory import open_artifacts
from loopml.core.errors import InvalidArgumentError
from tests.artifacts.contract import ArtifactStoreContract


class LocalObjects:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        (self.root / key).write_bytes(data)

    def delete(self, key: str) -> None:
        (self.root / key).unlink()

    def keys(self, prefix: str) -> set[str]:
        found = (self.root / prefix).rglob("*")
        return {p.relative_to(self.root).as_posix() for p in found if p.is_file()}


class TestLocalArtifacts(ArtifactStoreContract):
    @pytest.fixture
    def cas(self, tmp_path: Path) -> ContentStore:
        return open_artifacts(str(tmp_path / "store"))

    @pytest.fixture
    def raw(self, cas: ContentStore) -> LocalObjects:
        return LocalObjects(Path(cas.blobs.root))

    def test_a_blob_is_a_plain_file(self, cas: ContentStore) -> None:
        digest = cas.put_bytes(b"hello")
        path = cas.blobs.local_path(blob_key(digest))
        assert path is not None and path.read_bytes() == b"hello"

    def test_failed_write_leaves_no_temp_file(self, cas: ContentStore) -> None:
        with pytest.raises(RuntimeError), cas.blobs.open_write(blob_key("1" * 64)) as handle:
            handle.write(b"partial")
            raise RuntimeError("writer died")
        assert list(Path(cas.blobs.root, "tmp").iterdir()) == []

    def test_a_path_and_its_file_uri_are_one_store(self, tmp_path: Path) -> None:
        digest = open_artifacts(str(tmp_path / "s")).put_bytes(b"same")
        assert open_artifacts((tmp_path / "s").as_uri()).get_bytes(digest) == b"same"


def test_unsupported_uri() -> None:
    with pytest.raises(InvalidArgumentError, match="unsupported artifact URI"):
        open_artifacts("ftp://host/x")


def test_stale_temp_files_of_dead_writers_are_swept(tmp_path: Path) -> None:
    cas = open_artifacts(str(tmp_path / "swept"))
    tmp = Path(cas.blobs.root, "tmp")
    stale, fresh = tmp / "blob-dead", tmp / "blob-writing"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"in progress")
    os.utime(stale, (0, 0))
    open_artifacts(str(tmp_path / "swept"))
    assert not stale.exists() and fresh.exists()
