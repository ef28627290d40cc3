"""Open an artifact store (content-addressed) from a URI: file://, s3://, or a plain path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopml.artifacts.blobs import BlobStore
from loopml.artifacts.cas import ContentStore
from loopml.core.errors import InvalidArgumentError

SUPPORTED = ("file", "s3", "memory")


def open_artifacts(uri: str, **storage_options: Any) -> ContentStore:
    if "://" not in uri:
        uri = Path(uri).resolve().as_uri()
    scheme = uri.split("://", 1)[0].lower()
    if scheme not in SUPPORTED:
        raise InvalidArgumentError(
            f"unsupported artifact URI {uri!r}: use file://PATH, a folder path, or s3://BUCKET/PREFIX"
        )
    return ContentStore(BlobStore(uri, **storage_options))
