"""Store objects, files and folders in a content store, and read them back verified.

A folder is stored as its files' blobs plus a manifest blob (relative path -> digest, size),
so a folder that changes one file stores one new file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from loopml.artifacts import serializers
from loopml.artifacts.cas import ContentStore
from loopml.core.dirs import make_dirs
from loopml.core.errors import InvalidArgumentError
from loopml.core.names import validate_relative_path

FILE = "file"
FOLDER = "dir"


@dataclasses.dataclass(frozen=True, slots=True)
class Stored:
    digest: str
    serializer: str
    size: int


def store(cas: ContentStore, obj: Any) -> Stored:
    """Store an object by type, or a file or folder given as a Path (or an existing path str)."""
    if isinstance(obj, os.PathLike | str):
        return _store_path(cas, Path(obj))
    serializer = serializers.for_object(obj)
    data = serializer.dump(obj)
    return Stored(cas.put_bytes(data), serializer.name, len(data))


def store_value(cas: ContentStore, obj: Any) -> Stored:
    """Like `store`, but only a `Path` means a file or folder: a str is stored as a value."""
    if isinstance(obj, os.PathLike):
        return _store_path(cas, Path(obj))
    serializer = serializers.for_object(obj)
    data = serializer.dump(obj)
    return Stored(cas.put_bytes(data), serializer.name, len(data))


def load_value(cas: ContentStore, stored: Stored, *, what: str, scratch: Path) -> Any:
    """The inverse of `store_value`: a stored file or folder comes back as a Path, written
    (verified) under `scratch/<digest>` once and reused after that."""
    if stored.serializer not in (FILE, FOLDER):
        return load(cas, stored, what=what)
    dest = scratch / stored.digest
    if not dest.exists():
        make_dirs(scratch)  # under the workspace's cache
        partial = Path(tempfile.mkdtemp(dir=scratch, prefix=".partial-")) / "out"
        write_out(cas, stored, partial, what=what)
        try:
            partial.rename(dest)
        except OSError:  # another process wrote it first
            if not dest.exists():
                raise
        shutil.rmtree(partial.parent, ignore_errors=True)
    return dest


def _store_path(cas: ContentStore, path: Path) -> Stored:
    if path.is_symlink():
        raise InvalidArgumentError(f"{path} is a symbolic link; log the file it points to")
    if path.is_file():
        return Stored(cas.put_file(path), FILE, path.stat().st_size)
    if path.is_dir():
        return _store_folder(cas, path)
    raise InvalidArgumentError(
        f"{path} is not an existing file or folder (to log text, pass bytes or a dict)"
    )


def _store_folder(cas: ContentStore, folder: Path) -> Stored:
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise InvalidArgumentError(
                f"{path} is a symbolic link; folders are stored without them"
            )
        if path.is_file():
            size = path.stat().st_size
            files[path.relative_to(folder).as_posix()] = {
                "digest": cas.put_file(path),
                "size": size,
            }
    manifest = json.dumps({"files": files}, sort_keys=True).encode()
    return Stored(cas.put_bytes(manifest), FOLDER, sum(f["size"] for f in files.values()))


def load(cas: ContentStore, stored: Stored, *, what: str) -> Any:
    """The object back: a file as bytes, a folder as {relative path: bytes}."""
    if stored.serializer == FOLDER:
        return {
            rel: cas.get_bytes(entry["digest"], what=f"{what}/{rel}")
            for rel, entry in _manifest(cas, stored.digest, what).items()
        }
    data = cas.get_bytes(stored.digest, what=what)
    if stored.serializer == FILE:
        return data
    return serializers.by_name(stored.serializer).load(data)


def write_out(cas: ContentStore, stored: Stored, dest: Path, *, what: str) -> Path:
    """Write a stored file or folder (or a serialized object's bytes) to `dest`, verified."""
    if stored.serializer != FOLDER:
        return cas.get_file(stored.digest, dest, what=what)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    for rel, entry in _manifest(cas, stored.digest, what).items():
        target = (root / validate_relative_path(rel)).resolve()
        if not target.is_relative_to(root):
            raise InvalidArgumentError(f"{what}: {rel!r} would be written outside {dest}")
        cas.get_file(entry["digest"], target, what=f"{what}/{rel}")
    return dest


def _manifest(cas: ContentStore, digest: str, what: str) -> dict[str, dict[str, Any]]:
    files = json.loads(cas.get_bytes(digest, what=f"{what} (manifest)"))["files"]
    for rel in files:
        validate_relative_path(rel)
    return files
