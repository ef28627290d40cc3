"""Adding, reading and writing out dataset versions.

An add hashes the files (stat cache first, then threads), reads and profiles tabular data,
copies new blobs into the content store (many small files as packs, from the bytes read for
hashing), syncs, and only then records the version in one transaction: a process killed at
any point leaves no version, and no recorded manifest that points at a missing blob.

Re-adding a folder whose stat listing is unchanged is one scan, one stat-cache lookup and
one store read (the latest version's digest): no hashing, no copies and no writes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loopml.artifacts.cas import (
    PACK_MAX_BYTES,
    PACK_MAX_MEMBERS,
    PACK_MEMBER_MAX,
    ContentStore,
)
from loopml.artifacts.hashing import ChangedError, digest_bytes, digest_file, read_small
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
PACK_MIN_FILES = 64  # fewer new small files are stored one blob each
KEEP_BYTES = 128 * 1024 * 1024  # small files' bytes kept from hashing to storing, at most


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
    listing = manifest.fingerprint(path.resolve(), files)
    cache = StatCache(ws.cache_dir / "stat.db")
    try:
        known = cache.listing_digest(listing)
        if known is not None:  # the folder's stat listing is unchanged since it was hashed
            latest = _latest(ws, name)
            if latest is not None and latest.digest == known:
                return dataclasses.replace(latest, created=False)
        kept = manifest.Kept(max_file=PACK_MEMBER_MAX, budget=KEEP_BYTES)
        entries = manifest.hash_files(files, cache, path, progress, keep=kept)
        data = manifest.manifest_bytes(entries)
        digest = digest_bytes(data)
        if known != digest:
            cache.save_listing(listing, digest, time.time_ns())
    finally:
        cache.close()
    latest = _latest(ws, name)
    if latest is not None and latest.digest == digest:
        return dataclasses.replace(latest, created=False)
    fmt = _format(files)
    schema, profile_digest = _describe(ws.artifacts, path, fmt)
    _store_blobs(ws.artifacts, files, entries, kept.data, progress)
    ws.artifacts.put_bytes(data, fsync=False)  # the manifest, stored under the dataset digest
    ws.artifacts.sync()
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


def _latest(ws: Workspace, name: str) -> DatasetVersion | None:
    try:
        return ws.store.datasets.get_version(name)
    except LookupError:
        return None


def _format(files: list[LocalFile]) -> str:
    """`format_of_files` over one name per distinct (hidden, suffix) pair: its answer depends
    on nothing else, and a folder of 10^5 files has a handful of those."""
    names: dict[tuple[bool, str], str] = {}
    for f in files:
        rel = f.rel
        base = rel[rel.rfind("/") + 1 :]
        hidden = rel.startswith((".", "_")) or "/." in rel or "/_" in rel
        dot = base.rfind(".")
        names.setdefault((hidden, base[dot:] if dot >= 0 else ""), rel)
    return format_of_files(names.values()) or "files"


def _describe(cas: ContentStore, path: Path, fmt: str) -> tuple[Schema | None, str | None]:
    """Schema and profile of tabular data; a read error aborts the add before anything is kept."""
    if fmt == "files":
        return None, None
    from loopml.data.profile import profile_table  # pyarrow and numpy load only for tables
    from loopml.data.readers import read_table
    from loopml.data.schema import infer_schema

    table = read_table(path, fmt)
    schema = infer_schema(table)
    profile = profile_table(table, schema)
    blob = json.dumps(profile_to_json(profile), separators=(",", ":")).encode()
    return schema, cas.put_bytes(blob, fsync=False)


def _store_blobs(
    cas: ContentStore,
    files: list[LocalFile],
    entries: list[manifest.Entry],
    kept: dict[str, bytes],
    progress: Progress | None,
) -> None:
    """Store the files the store does not have yet, each content once: many small ones in
    packs, the others one blob each. Every write is atomic, a file that changed since it was
    hashed is refused, and the caller syncs once before recording the version."""
    wanted: dict[str, LocalFile] = {}
    for f, e in zip(files, entries, strict=True):
        wanted.setdefault(e.digest, f)
    todo = [(digest, wanted[digest]) for digest in cas.missing(list(wanted))]
    small = [t for t in todo if t[1].key[0] <= PACK_MEMBER_MAX]
    if len(small) < PACK_MIN_FILES:
        small = []
    packed = {digest for digest, _ in small}
    loose = [t for t in todo if t[0] not in packed]
    tasks: list[Callable[[], int]] = [
        functools.partial(_store_pack, cas, group, kept) for group in _pack_groups(small)
    ]
    tasks += [functools.partial(_store_loose, cas, digest, f) for digest, f in loose]
    total, done = sum(f.key[0] for _, f in todo), 0
    if not tasks:
        return
    with ThreadPoolExecutor(min(COPY_WORKERS, len(tasks))) as pool:
        for size in pool.map(lambda task: task(), tasks):
            done += size
            if progress:
                progress("storing", done, total)


def _pack_groups(
    small: list[tuple[str, LocalFile]],
) -> list[list[tuple[str, LocalFile]]]:
    groups: list[list[tuple[str, LocalFile]]] = []
    current: list[tuple[str, LocalFile]] = []
    size = 0
    for item in small:
        if current and (size + item[1].key[0] > PACK_MAX_BYTES or len(current) >= PACK_MAX_MEMBERS):
            groups.append(current)
            current, size = [], 0
        current.append(item)
        size += item[1].key[0]
    if current:
        groups.append(current)
    return groups


def _store_pack(
    cas: ContentStore, group: list[tuple[str, LocalFile]], kept: dict[str, bytes]
) -> int:
    """One pack of small files, from the bytes kept while hashing where there are some (they
    hash to their digest by construction), else read again and checked against it."""
    members = []
    for digest, f in group:
        data = kept.get(digest)
        if data is None:
            data = _read_member(f)
            if digest_bytes(data) != digest:
                raise InvalidArgumentError(f"{f.path} changed while it was being added")
        members.append(data)
    cas.put_pack(members, [digest for digest, _ in group])
    return sum(len(m) for m in members)


def _read_member(f: LocalFile) -> bytes:
    try:
        return read_small(f.path, f.size)
    except (FileNotFoundError, ChangedError):
        raise InvalidArgumentError(f"{f.path} changed while it was being added") from None


def _store_loose(cas: ContentStore, digest: str, f: LocalFile) -> int:
    try:
        cas.put_hashed_file(digest, f.path, expect=f.key[:2])
    except (FileNotFoundError, ChangedError):
        raise InvalidArgumentError(f"{f.path} changed while it was being added") from None
    return f.size


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
    local = cas.loose_path(entry.digest)
    if local is not None:
        if not local.exists() or digest_file(local) != entry.digest:
            cas.get_bytes(entry.digest, what=what)  # raises the clear missing/corrupted error
            raise IntegrityError(f"{what} changed while it was read")
        return readers.read_table(local, version.format)
    with tempfile.TemporaryDirectory(prefix="loopml-") as tmp:
        copy = cas.get_file(entry.digest, Path(tmp) / "blob", what=what)
        return readers.read_table(copy, version.format)
