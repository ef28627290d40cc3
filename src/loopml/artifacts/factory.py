"""Open an artifact store (content-addressed) from a URI: file://, s3://, or a plain path.

For s3:// the endpoint comes from LOOPML_S3_ENDPOINT_URL (any S3-compatible server: MinIO,
SeaweedFS, Ceph; unset means AWS) and the credentials from the usual AWS variables
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...), read by botocore itself.
Options passed to `open_artifacts` win over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopml.artifacts.blobs import BlobStore
from loopml.artifacts.cas import ContentStore
from loopml.core.errors import InvalidArgumentError
from loopml.core.extras import MissingExtraError, missing_extra

SUPPORTED = ("file", "s3", "memory")
S3_ENDPOINT_ENV = "LOOPML_S3_ENDPOINT_URL"


def open_artifacts(uri: str, **storage_options: Any) -> ContentStore:
    if "://" not in uri:  # a folder: its path verbatim, as fsspec reads file:// URIs
        uri = f"file://{Path(uri).resolve()}"
    scheme = uri.split("://", 1)[0].lower()
    if scheme not in SUPPORTED:
        raise InvalidArgumentError(
            f"unsupported artifact URI {uri!r}: use file://PATH, a folder path, or s3://BUCKET/PREFIX"
        )
    if scheme == "s3":
        storage_options = s3_options(os.environ, storage_options)
    try:
        return ContentStore(BlobStore(uri, **storage_options))
    except ImportError as exc:
        error = missing_extra(exc) or (
            MissingExtraError("s3fs", "s3") if scheme == "s3" else None
        )  # fsspec words its own ImportError for s3fs, without the module's name
        if error is None:
            raise
        raise error from None


def s3_options(env: Mapping[str, str], explicit: Mapping[str, Any]) -> dict[str, Any]:
    """s3fs options: the endpoint from the environment, then the explicit options on top.

    Listings are not cached: other processes (workers, other users) add blobs all the time,
    and a cached listing would hide them."""
    options = {"use_listings_cache": False, **explicit}
    endpoint = env.get(S3_ENDPOINT_ENV)
    client_kwargs = dict(options.get("client_kwargs") or {})
    if endpoint and "endpoint_url" not in client_kwargs:
        client_kwargs["endpoint_url"] = endpoint
    if client_kwargs:
        options["client_kwargs"] = client_kwargs
    return options
