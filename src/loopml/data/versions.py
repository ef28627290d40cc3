"""Adding, reading and writing out dataset versions.

An add hashes the files (stat cache first, then threads), reads and profiles tabular data,
copies new blobs into the content store, and only then records the version in one
transaction: a process killed at any point leaves no version, and no recorded manifest that
points at a missing blob.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loopml.artifacts.cas import ContentStore, blob_key
from loopml.artifacts.hashing import digest_bytes, digest_file
from loopml.core.datasets import (
    DatasetVersion,
    ManifestEntry,
    Profile,
    Schema,
    profile_from_json,
    profile_to_json,
)
from loopml.core.errors import IntegrityError, InvalidArgumentError
from loopml.core.names import validate_name, validate_relative_path
from loopml.data import manifest
from loopml.data.formats import format_of_files, is_data_file
from loopml.data.manifest import LocalFile, Progress
from loopml.data.statcache import StatCache
from loopml.workspace import Workspace

COPY_WORKERS = 4


def add_version(
    ws: Workspace,
    name: str,
    path: Path,
    *,
    producer_run_id: str | None = None,
    progress: Progress | None = None,
) -> DatasetVersion:
    validate_name(name, "dataset name")
    files = manifest.scan(path)
    cache = StatCache(ws.cache_dir / "stat.db")
    try:
        entries = manifest.hash_files(files, cache, path, progress)
    finally:
        cache.close()
    data = manifest.manifest_bytes(entries)
    digest = digest_bytes(data)
    try:
        latest = ws.store.datasets.get_version(name)
        if latest.digest == digest:
            return dataclasses.replace(latest, created=False)
    except LookupError:
        pass
    fmt = format_of_files(f.rel for f in files) or "files"
    schema, profile_digest = _describe(ws.artifacts, path, fmt)
    _copy_blobs(ws.artifacts, files, entries, progress)
    ws.artifacts.put_bytes(data)  # the manifest, stored under the dataset digest itself
    ws.artifacts.blobs.sync()
    return ws.store.datasets.create_version(
        name,
        digest=digest,
        files=len(entries),
        size=sum(e.size for e in entries),
        format=fmt,
        schema=schema,
        profile_digest=profile_digest,
        producer_run_id=producer_run_id,
    )


def _describe(cas: ContentStore, path: Path, fmt: str) -> tuple[Schema | None, str | None]:
    """Schema and profile of tabular data; a read error aborts the add before anything is kept."""
    from loopml.data.profile import profile_table  # pyarrow and numpy load only for tables
    from loopml.data.readers import read_table
    from loopml.data.schema import infer_schema

    if fmt == "files":
        return None, None
    table = read_table(path, fmt)
    schema = infer_schema(table)
    profile = profile_table(table, schema)
    blob = json.dumps(profile_to_json(profile), separators=(",", ":")).encode()
    return schema, cas.put_bytes(blob)


def _copy_blobs(
    cas: ContentStore,
    files: list[LocalFile],
    entries: list[ManifestEntry],
    progress: Progress | None,
) -> None:
    """Copy files the store does not have yet; each copy is atomic, and one sync follows."""
    todo = [f for f, e in zip(files, entries, strict=True) if not cas.has(e.digest)]
    digest_of = {e.path: e.digest for e in entries}
    total, done = sum(f.size for f in todo), 0

    def copy(group: list[LocalFile]) -> int:
        for local in group:
            cas.blobs.put_file(blob_key(digest_of[local.rel]), Path(local.path), fsync=False)
        return sum(f.size for f in group)

    with ThreadPoolExecutor(COPY_WORKERS) as pool:
        for size in pool.map(copy, manifest.chunks(todo)):
            done += size
            if progress:
                progress("storing", done, total)


def read_manifest(cas: ContentStore, version: DatasetVersion) -> list[ManifestEntry]:
    what = f"manifest of dataset {version.name} v{version.version}"
    entries = manifest.parse_manifest(cas.get_bytes(version.digest, what=what))
    for entry in entries:
        validate_relative_path(entry.path)
    return entries


def read_profile(cas: ContentStore, version: DatasetVersion) -> Profile | None:
    if version.profile_digest is None:
        return None
    what = f"profile of dataset {version.name} v{version.version}"
    return profile_from_json(json.loads(cas.get_bytes(version.profile_digest, what=what)))


def write_out(
    cas: ContentStore, version: DatasetVersion, dest: Path, progress: Progress | None = None
) -> Path:
    """Write the version's files under `dest`, each verified; refuse any path that escapes."""
    root = dest.resolve()
    entries = read_manifest(cas, version)
    total, done = sum(e.size for e in entries), 0
    for entry in entries:
        target = (root / entry.path).resolve()
        if not target.is_relative_to(root):
            raise InvalidArgumentError(f"{entry.path!r} would be written outside {dest}")
        cas.get_file(entry.digest, target, what=f"{version.name} v{version.version}: {entry.path}")
        done += entry.size
        if progress:
            progress("writing", done, total)
    return dest


def load_table(cas: ContentStore, version: DatasetVersion) -> Any:
    """The version's tabular data as one pyarrow Table, every file verified before parsing."""
    import pyarrow as pa

    if version.format == "files":
        raise InvalidArgumentError(
            f"dataset {version.name} v{version.version} is not tabular (CSV, Parquet or JSON "
            "Lines); write its files out with `loopml data get` instead"
        )
    entries = [e for e in read_manifest(cas, version) if is_data_file(e.path)]
    tables = [_read_verified(cas, version, entry) for entry in entries]
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def _read_verified(cas: ContentStore, version: DatasetVersion, entry: ManifestEntry) -> Any:
    from loopml.data import readers

    what = f"{version.name} v{version.version}: {entry.path}"
    local = cas.blobs.local_path(blob_key(entry.digest))
    if local is not None:
        if not local.exists() or digest_file(local) != entry.digest:
            cas.get_bytes(entry.digest, what=what)  # raises the clear missing/corrupted error
            raise IntegrityError(f"{what} changed while it was read")
        return readers.read_table(local, version.format)
    with tempfile.TemporaryDirectory(prefix="loopml-") as tmp:
        copy = cas.get_file(entry.digest, Path(tmp) / "blob", what=what)
        return readers.read_table(copy, version.format)
