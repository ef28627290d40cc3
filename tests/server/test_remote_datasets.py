"""Issue 15.9: `loopml.datasets.add` and `load` through a real team server (LOOPML_SERVER_URI
and LOOPML_TOKEN), for a folder (small files packed, a large one loose) and for one file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import loopml
from loopml.artifacts.cas import PACK_MEMBER_MAX
from loopml.artifacts.hashing import ChangedError, digest_file
from loopml.core.auth import Role
from loopml.core.errors import InvalidArgumentError
from loopml.workspace import Workspace


@pytest.fixture
def client(served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A client folder with no workspace of its own, pointed at the server."""
    server, workspace = served
    token = workspace.store.auth.create_token("alice", role=Role.EDITOR)
    here = tmp_path / "client"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("LOOPML_SERVER_URI", server.url)
    monkeypatch.setenv("LOOPML_TOKEN", token)
    for name in ("LOOPML_STORE_URI", "LOOPML_ARTIFACT_URI"):
        monkeypatch.delenv(name, raising=False)
    return here, workspace


def _part(i: int, rows: int) -> pd.DataFrame:
    return pd.DataFrame({"i": range(i * 10_000, i * 10_000 + rows), "x": [i * 0.5] * rows})


def test_a_folder_is_added_and_loaded_through_the_server(client) -> None:
    here, server_ws = client
    folder = here / "tx"
    folder.mkdir()
    frames = [_part(i, 3) for i in range(70)]  # more than PACK_MIN_FILES small files: packed
    frames.append(_part(99, 40_000))  # larger than a pack member: stored loose
    for i, frame in enumerate(frames):
        frame.to_csv(folder / f"part-{i:03d}.csv", index=False)
    assert (folder / "part-070.csv").stat().st_size > PACK_MEMBER_MAX

    version = loopml.datasets.add("tx", folder)
    assert version.version == 1 and version.files == 71 and version.format == "csv"
    assert not list(here.glob(".loopml"))  # nothing kept on the client's side
    # The server's own stores hold the version and every blob it names.
    assert server_ws.store.datasets.get_version("tx").digest == version.digest
    assert server_ws.artifacts.has(version.digest)

    loaded = loopml.datasets.load("tx")
    expected = pd.concat(frames, ignore_index=True)
    got = loaded.sort_values("i", ignore_index=True)
    pd.testing.assert_frame_equal(got, expected.sort_values("i", ignore_index=True))

    again = loopml.datasets.add("tx", folder)  # unchanged: no new version
    assert again.version == 1 and not again.created
    out = loopml.datasets.download("tx", here / "copy")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in folder.iterdir())
    assert (out / "part-070.csv").read_bytes() == (folder / "part-070.csv").read_bytes()


def test_a_file_is_added_and_loaded_through_the_server(client) -> None:
    here, server_ws = client
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    path = here / "small.parquet"
    frame.to_parquet(path)
    version = loopml.datasets.add("small", path)
    assert version.files == 1 and version.format == "parquet" and version.schema is not None
    pd.testing.assert_frame_equal(loopml.datasets.load("small"), frame)
    assert loopml.datasets.get("small").profile is not None  # the profile blob is there too

    big = here / "big.csv"
    _part(1, 60_000).to_csv(big, index=False)  # one file stored loose
    version = loopml.datasets.add("big", big)
    assert server_ws.store.datasets.get_version("big").digest == version.digest
    pd.testing.assert_frame_equal(loopml.datasets.load("big"), _part(1, 60_000))


def test_a_file_changed_since_it_was_hashed_is_not_stored_on_the_server(client) -> None:
    here, server_ws = client
    path = here / "f.bin"
    path.write_bytes(b"first" * 1000)
    digest = digest_file(path)
    stat = path.stat()
    path.write_bytes(b"other" * 1001)
    remote = Workspace.current().artifacts
    with pytest.raises(ChangedError):
        remote.put_hashed_file(digest, path, expect=(stat.st_size, stat.st_mtime_ns))
    with pytest.raises(InvalidArgumentError, match="does not hash"):
        remote.put_hashed_file(digest, path)  # bytes that do not hash to the digest
    assert not server_ws.artifacts.has(digest)
