from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.artifacts import objects
from loopml.artifacts.cas import ContentStore
from loopml.artifacts.factory import open_artifacts
from loopml.core.errors import InvalidArgumentError


@pytest.fixture
def cas(tmp_path: Path) -> ContentStore:
    return open_artifacts(str(tmp_path / "store"))


def roundtrip(cas: ContentStore, obj: object) -> tuple[objects.Stored, object]:
    stored = objects.store(cas, obj)
    return stored, objects.load(cas, stored, what="thing")


def test_dataframe_as_parquet(cas: ContentStore) -> None:
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", None], "z": [0.5, np.nan]})
    stored, back = roundtrip(cas, frame)
    assert stored.serializer == "parquet"
    pd.testing.assert_frame_equal(back, frame)
    assert cas.get_bytes(stored.digest)[:4] == b"PAR1"


def test_numpy_as_npy_without_pickle(cas: ContentStore) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    stored, back = roundtrip(cas, array)
    assert stored.serializer == "npy"
    np.testing.assert_array_equal(back, array)
    with pytest.raises(InvalidArgumentError, match="pickle"):
        objects.store(cas, np.array([object()], dtype=object))


def test_json_and_bytes(cas: ContentStore) -> None:
    assert roundtrip(cas, {"a": [1, 2.5, None]})[1] == {"a": [1, 2.5, None]}
    assert roundtrip(cas, [1, "two"])[1] == [1, "two"]
    stored, back = roundtrip(cas, b"\x00raw")
    assert (stored.serializer, back) == ("bytes", b"\x00raw")
    with pytest.raises(InvalidArgumentError, match="JSON"):
        objects.store(cas, {"a": object()})


def test_unknown_type_names_it(cas: ContentStore) -> None:
    class Model:
        pass

    with pytest.raises(InvalidArgumentError, match="Model"):
        objects.store(cas, Model())


def test_missing_path_and_symlinks(cas: ContentStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="not an existing file"):
        objects.store(cas, tmp_path / "nope.csv")
    folder = tmp_path / "linked"
    folder.mkdir()
    (folder / "escape").symlink_to("/etc/passwd")
    with pytest.raises(InvalidArgumentError, match="symbolic link"):
        objects.store(cas, folder)
