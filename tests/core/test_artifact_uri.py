"""Issue 14.10d: LOOPML_ARTIFACT_URI holding '#' or '?' is refused with a clear error (fsspec
reads them literally, URL parsers as a fragment or query: two readers, two places); and a
workspace whose folder name holds a space, '#' or '%' keeps its artifacts inside its own
.loopml/artifacts, never in a percent-encoded sibling folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.artifacts.factory import open_artifacts
from loopml.core.config import resolve_config
from loopml.core.errors import InvalidArgumentError
from loopml.workspace import Workspace

pytestmark = pytest.mark.security


@pytest.mark.parametrize(
    "uri",
    [
        "file:///tmp/store#frag",
        "file:///tmp/store?x=1",
        "s3://bucket/prefix?versionId=3",
        "s3://bucket/prefix#x",
        "/tmp/plain#path",
    ],
)
def test_an_artifact_uri_with_a_fragment_or_query_is_refused(tmp_path: Path, uri: str) -> None:
    env = {"LOOPML_STORE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}", "LOOPML_ARTIFACT_URI": uri}
    with pytest.raises(InvalidArgumentError) as refused:
        resolve_config(tmp_path, env)
    message = str(refused.value)
    assert "LOOPML_ARTIFACT_URI" in message and ("'#'" in message or "'?'" in message)


@pytest.mark.parametrize("name", ["with space", "hash#tag", "per%20cent", "q?mark"])
def test_a_workspace_keeps_its_artifacts_inside_its_folder(tmp_path: Path, name: str) -> None:
    root = tmp_path / name
    root.mkdir()
    workspace = Workspace.init(root)
    try:
        digest = workspace.artifacts.put_bytes(b"inside")
        assert workspace.artifacts.get_bytes(digest) == b"inside"
    finally:
        workspace.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no sibling made
    stored = list((root / ".loopml" / "artifacts").rglob(digest[2:]))
    assert len(stored) == 1


def test_a_plain_folder_path_opens_that_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my artifacts"
    digest = open_artifacts(str(folder)).put_bytes(b"x")
    assert list(folder.rglob(digest[2:])) and sorted(p.name for p in tmp_path.iterdir()) == [
        "my artifacts"
    ]
