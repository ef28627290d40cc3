"""Garbage collection on S3 (a real SeaweedFS server): referenced blobs and what their
manifests name survive, unreferenced ones past the grace period are freed, bytes counted."""

from __future__ import annotations

import os
import time
from pathlib import Path

from loopml.artifacts import gc, objects
from loopml.artifacts.factory import open_artifacts
from loopml.store.sql.store import SqlMetadataStore


def test_gc_on_s3(s3_artifact_uri: str, tmp_path: Path) -> None:
    cas = open_artifacts(s3_artifact_uri)
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'loopml.db'}")
    try:
        folder = tmp_path / "model"
        folder.mkdir()
        (folder / "weights.bin").write_bytes(os.urandom(3000))
        stored = objects.store(cas, folder)  # a manifest naming the file's blob
        store.models.create_version("m", flavor="sklearn", digest=stored.digest, size=1)
        orphans = {cas.put_bytes(os.urandom(n)): n for n in (1500, 2500)}

        young = gc.collect(cas, store.retention.referenced_digests, grace_seconds=3600)
        assert young.deleted == 0 and young.young >= 2
        assert all(cas.has(d) for d in orphans)

        later = time.time() + 7200  # as if two hours had passed: past the grace period
        report = gc.collect(cas, store.retention.referenced_digests, grace_seconds=3600,
                            now=later)  # fmt: skip
        assert report.deleted == 2 and report.bytes_freed == sum(orphans.values())
        assert not any(cas.has(d) for d in orphans)
        out = objects.write_out(cas, stored, tmp_path / "back", what="model")
        assert (out / "weights.bin").read_bytes() == (folder / "weights.bin").read_bytes()
    finally:
        store.close()
