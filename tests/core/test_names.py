from __future__ import annotations

import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.core.names import (
    validate_artifact_name,
    validate_key,
    validate_project_name,
    validate_relative_path,
)

ESCAPING_NAMES = [
    "../../etc/passwd",
    "%2e%2e%2f",
    "%252e%252e%252f",
    "..\\x",
    "/etc/passwd",
    "C:\\x",
    "C:x",
    "a/../../b",
    "a\x00b",
    "a\nb",
    "./a",
    "a//b",
    "",
    "..",
]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_artifact_names_that_could_escape_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="artifact name"):
        validate_artifact_name(name)


@pytest.mark.parametrize("name", ["model", "plots/confusion.png", "a-b_c.d/e"])
def test_ordinary_artifact_names(name: str) -> None:
    assert validate_artifact_name(name) == name


@pytest.mark.parametrize(
    ("key", "message"),
    [("", "empty"), ("x" * 251, "250"), ("acc!", "'!'"), ("a\nb", "allowed"), (3, "string")],
)
def test_bad_metric_keys(key: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        validate_key(key)


@pytest.mark.parametrize("key", ["acc", "val/loss", "train.loss-1", "top 5 acc", "x" * 250])
def test_good_metric_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a b", "x" * 101, None])
def test_bad_project_names(name: object) -> None:
    with pytest.raises(InvalidArgumentError, match="project name"):
        validate_project_name(name)


@pytest.mark.parametrize("path", ["../x", "/abs", "a/../../b", "a\\b", "C:/x", "a\x00"])
def test_relative_paths_that_escape(path: str) -> None:
    with pytest.raises(InvalidArgumentError, match="escape"):
        validate_relative_path(path)
