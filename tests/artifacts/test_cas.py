from __future__ import annotations

from pathlib import Path

import blake3
import pytest

from loopml.artifacts.cas import ContentStore, blob_key
from loopml.artifacts.factory import open_artifacts
from loopml.core.errors import IntegrityError, InvalidArgumentError, NotFoundError


@pytest.fixture
def cas(tmp_path: Path) -> ContentStore:
    return open_artifacts(str(tmp_path / "store"))


def blob_path(cas: ContentStore, digest: str) -> Path:
    path = cas.blobs.local_path(blob_key(digest))
    assert path is not None
    return path


def test_put_and_get_bytes_by_blake3_digest(cas: ContentStore) -> None:
    digest = cas.put_bytes(b"hello")
    assert digest == blake3.blake3(b"hello").hexdigest()
    assert cas.get_bytes(digest) == b"hello"
    assert blob_path(cas, digest).read_bytes() == b"hello"


def test_same_bytes_stored_once(cas: ContentStore, tmp_path: Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(b"x" * 3_000_000)  # large enough for the threaded mmap hash
    first = cas.put_file(source)
    assert cas.put_bytes(b"x" * 3_000_000) == first
    files = [p for p in (tmp_path / "store" / "blobs").rglob("*") if p.is_file()]
    assert len(files) == 1


def test_flipped_bytes_fail_the_digest_check(cas: ContentStore, tmp_path: Path) -> None:
    digest = cas.put_bytes(b"precious model weights")
    path = blob_path(cas, digest)
    data = bytearray(path.read_bytes())
    data[3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"weights\.bin.*corrupted"):
        cas.get_bytes(digest, what="weights.bin")
    dest = tmp_path / "out" / "weights.bin"
    with pytest.raises(IntegrityError, match="corrupted"):
        cas.get_file(digest, dest, what="weights.bin")
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_missing_blob_and_bad_digest(cas: ContentStore) -> None:
    with pytest.raises(NotFoundError, match="missing"):
        cas.get_bytes("0" * 64, what="model")
    with pytest.raises(InvalidArgumentError, match="digest"):
        cas.get_bytes("../../etc/passwd")


def test_get_file_streams_verified_copy(cas: ContentStore, tmp_path: Path) -> None:
    digest = cas.put_bytes(b"abc" * 1000)
    dest = cas.get_file(digest, tmp_path / "copy" / "x.bin")
    assert dest.read_bytes() == b"abc" * 1000


def test_failed_write_leaves_no_blob(cas: ContentStore) -> None:
    key = blob_key("1" * 64)
    with pytest.raises(RuntimeError), cas.blobs.open_write(key) as handle:
        handle.write(b"partial")
        raise RuntimeError("writer died")
    assert not cas.blobs.exists(key)
    assert list(Path(cas.blobs.root, "tmp").iterdir()) == []


def test_unsupported_uri() -> None:
    with pytest.raises(InvalidArgumentError, match="unsupported artifact URI"):
        open_artifacts("ftp://host/x")


def test_stale_temp_files_of_dead_writers_are_swept(tmp_path: Path) -> None:
    import os

    cas = open_artifacts(str(tmp_path / "swept"))
    tmp = Path(cas.blobs.root, "tmp")
    stale, fresh = tmp / "blob-dead", tmp / "blob-writing"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"in progress")
    os.utime(stale, (0, 0))
    open_artifacts(str(tmp_path / "swept"))
    assert not stale.exists() and fresh.exists()
