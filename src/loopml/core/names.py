"""Validation of user-chosen names: metric keys, params, tags, projects and artifact paths.

Artifact names become storage paths, so they are held to a strict grammar instead of being
sanitised: a name that could escape its root (``..``, absolute, drive letters, backslashes,
percent-encoding, control characters) is refused outright, never rewritten.
"""

from __future__ import annotations

import re

from loopml.core.errors import InvalidArgumentError

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
_KEY_RE = re.compile(r"[A-Za-z0-9_\-./ ]+")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]{0,99}")
_ARTIFACT_SEGMENT_RE = re.compile(r"[A-Za-z0-9_\-.]+")
MAX_ARTIFACT_NAME_LENGTH = 500


def _describe(value: object) -> str:
    return repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "...'"


def validate_key(key: object, kind: str = "metric key") -> str:
    """A metric, param or tag key: 1-250 characters of letters, digits and ``_-./`` or space."""
    if not isinstance(key, str):
        raise InvalidArgumentError(f"{kind} must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidArgumentError(f"{kind} must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgumentError(
            f"{kind} {_describe(key)} is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}"
        )
    if not _KEY_RE.fullmatch(key):
        bad = next(ch for ch in key if not _KEY_RE.fullmatch(ch))
        raise InvalidArgumentError(
            f"{kind} {_describe(key)} holds {bad!r}; allowed are letters, digits, '_-./' and space"
        )
    return key


def validate_name(name: object, kind: str) -> str:
    """A project, dataset or model name: a letter or digit, then letters, digits, ``_-.``."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidArgumentError(
            f"{kind} {_describe(name)} is invalid: use 1-100 letters, digits, '_', '-' "
            "or '.', starting with a letter or digit"
        )
    return name


_ALIAS_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
RESERVED_ALIASES = ("latest",)


def validate_alias(alias: object) -> str:
    """A model alias such as ``champion``: letters, digits, ``_`` and ``-``, not only digits
    (that would read as a version number) and not ``latest`` (which always means the newest)."""
    if (
        not isinstance(alias, str)
        or not _ALIAS_RE.fullmatch(alias)
        or alias.isdigit()
        or alias in RESERVED_ALIASES
    ):
        raise InvalidArgumentError(
            f"alias {_describe(alias)} is invalid: use 1-64 letters, digits, '_' or '-', not "
            "only digits, and not 'latest'"
        )
    return alias


def validate_project_name(name: object) -> str:
    return validate_name(name, "project name")


def validate_artifact_name(name: object) -> str:
    """A relative artifact path of ``/``-separated segments of letters, digits and ``_-.``.

    Rejects everything that could name a place outside the store, whatever its encoding.
    """
    if not isinstance(name, str):
        raise InvalidArgumentError(f"artifact name must be a string, got {type(name).__name__}")
    problem = _artifact_name_problem(name)
    if problem:
        raise InvalidArgumentError(f"artifact name {_describe(name)} is refused: {problem}")
    return name


def _artifact_name_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > MAX_ARTIFACT_NAME_LENGTH:
        return f"it is longer than {MAX_ARTIFACT_NAME_LENGTH} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "it holds a control character (NUL, newline, ...)"
    if "\\" in name:
        return "it holds a backslash"
    if "%" in name:
        return "it holds '%' (percent-encoding is not allowed in names)"
    if name.startswith("/"):
        return "it is an absolute path"
    if re.match(r"[A-Za-z]:", name):
        return "it starts with a drive letter"
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            return "it holds an empty, '.' or '..' path segment"
        if not _ARTIFACT_SEGMENT_RE.fullmatch(segment):
            return "use letters, digits, '_', '-', '.' and '/' between segments"
    return None


def validate_relative_path(path: str) -> str:
    """A file path inside a folder being stored or written out: never absolute, never `..`."""
    if not path or "\x00" in path or "\\" in path or path.startswith("/"):
        raise InvalidArgumentError(f"path {_describe(path)} would escape its folder")
    if re.match(r"[A-Za-z]:", path) or any(seg in ("", ".", "..") for seg in path.split("/")):
        raise InvalidArgumentError(f"path {_describe(path)} would escape its folder")
    return path
