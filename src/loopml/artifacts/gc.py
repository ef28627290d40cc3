"""Garbage collection of the content-addressed store: delete the blobs nothing refers to.

The caller names the digests the metadata refers to (`roots`). Blobs those name are kept too:
any referenced blob that is a JSON document (a folder's or a dataset's manifest) is read, and
every digest in it is kept, transitively. That is conservative on purpose: a JSON artifact that
merely mentions a digest keeps that blob, never the reverse.

Safe against concurrent writers: a blob modified within `grace_seconds` is never deleted (a run
that has uploaded a blob but not yet recorded it keeps it), a writer that finds a blob already
stored refreshes its time (local stores), and `roots` is asked again just before deleting, so a
digest recorded while the scan ran is kept. A pack (many small blobs in one) is deleted only
when none of its members is kept; its index goes first, so no index names missing bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterable

from loopml.artifacts.cas import PACKS, ContentStore, blob_key
from loopml.artifacts.hashing import is_digest
from loopml.core.errors import NotFoundError

MANIFEST_MAX = 64 * 1024 * 1024  # larger blobs are not read for digests they may name
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True, slots=True)
class BlobGcReport:
    deleted: int  # blobs (and packs) deleted, or that would be with dry_run
    bytes_freed: int
    kept: int  # blobs still referenced
    young: int  # unreferenced, but within the grace period
    dry_run: bool


@dataclasses.dataclass(frozen=True, slots=True)
class _Blob:
    digest: str
    size: int
    modified: float


def collect(
    cas: ContentStore,
    roots: Callable[[], Iterable[str]],
    *,
    grace_seconds: float,
    dry_run: bool = False,
    now: float | None = None,
) -> BlobGcReport:
    now = time.time() if now is None else now
    cutoff = now - grace_seconds
    loose = _loose_blobs(cas)
    packs, indexed = _packs(cas)
    live = _reachable(cas, set(roots()), loose, packs)
    doomed_packs = {
        pack: members
        for pack, members in packs.items()
        if not (set(members) & live)
        and pack not in live
        and _old(loose.get(pack), cutoff)
        and indexed[pack] < cutoff  # a pack indexed again just now is about to be used
    }
    kept_packs = set(packs) - set(doomed_packs)
    candidates = [
        blob
        for digest, blob in loose.items()
        if digest not in live and digest not in kept_packs and digest not in doomed_packs
    ]
    old = [blob for blob in candidates if blob.modified < cutoff]
    young = len(candidates) - len(old)
    if old or doomed_packs:  # what was recorded while we scanned is kept
        again = _reachable(cas, set(roots()), loose, packs)
        old = [blob for blob in old if blob.digest not in again]
        doomed_packs = {p: m for p, m in doomed_packs.items() if not (set(m) & again)}
    freed = sum(blob.size for blob in old)
    freed += sum(loose[pack].size for pack in doomed_packs if pack in loose)
    if not dry_run:
        for pack in doomed_packs:
            _delete(cas, f"{PACKS}/{pack}.json")
            _delete(cas, blob_key(pack))
        for blob in old:
            _delete(cas, blob_key(blob.digest))
    kept = sum(1 for digest in loose if digest in live or digest in kept_packs)
    return BlobGcReport(len(old) + len(doomed_packs), freed, kept, young, dry_run)


def _old(blob: _Blob | None, cutoff: float) -> bool:
    return blob is None or blob.modified < cutoff


def _delete(cas: ContentStore, key: str) -> None:
    with contextlib.suppress(FileNotFoundError, NotFoundError):  # another collector's first
        cas.blobs.delete(key)


def _loose_blobs(cas: ContentStore) -> dict[str, _Blob]:
    found: dict[str, _Blob] = {}
    for prefix in (f"blobs/{i:02x}" for i in range(256)):  # blob_key's two-digit folders
        for key, size, modified in cas.blobs.list_info(prefix):
            head, rest = key.rsplit("/", 2)[-2:]
            digest = head + rest
            if is_digest(digest):
                found[digest] = _Blob(digest, size, modified)
    return found


def _packs(cas: ContentStore) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Pack digest -> its members' digests, and -> when its index was last written."""
    packs: dict[str, list[str]] = {}
    indexed: dict[str, float] = {}
    for key, _, modified in cas.blobs.list_info(PACKS):
        if not key.endswith(".json"):
            continue
        try:
            index = json.loads(cas.blobs.get_bytes(key))
        except (NotFoundError, ValueError):
            continue
        pack = index["pack"]
        packs[pack] = packs.get(pack, []) + [member[0] for member in index["members"]]
        indexed[pack] = max(indexed.get(pack, 0.0), modified)
    return packs, indexed


def _reachable(
    cas: ContentStore, roots: set[str], loose: dict[str, _Blob], packs: dict[str, list[str]]
) -> set[str]:
    """`roots` and every digest named inside a referenced JSON blob, transitively."""
    packed = {member for members in packs.values() for member in members}
    live: set[str] = set()
    todo = [digest for digest in roots if is_digest(digest)]
    while todo:
        digest = todo.pop()
        if digest in live:
            continue
        live.add(digest)
        for child in _named_in(cas, digest, loose, packed):
            if child not in live:
                todo.append(child)
    return live


def _named_in(
    cas: ContentStore, digest: str, loose: dict[str, _Blob], packed: set[str]
) -> set[str]:
    blob = loose.get(digest)
    if blob is not None:
        if blob.size > MANIFEST_MAX or blob.size < 2:
            return set()
        try:
            if cas.blobs.read_range(blob_key(digest), 0, 1) != b"{":
                return set()
        except NotFoundError:
            return set()
    elif digest not in packed:
        return set()  # not stored at all: nothing to keep below it
    try:
        data = cas.get_bytes(digest)
    except NotFoundError:
        return set()
    if not data.startswith(b"{"):
        return set()
    try:
        json.loads(data)
    except ValueError:
        return set()
    return set(_HEX.findall(data.decode("utf-8", "replace"))) - {digest}
