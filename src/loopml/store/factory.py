"""Open a metadata store by URI scheme."""

from __future__ import annotations

from loopml.core.errors import InvalidArgumentError
from loopml.store.base import MetadataStore


def open_store(uri: str) -> MetadataStore:
    scheme = uri.split(":", 1)[0].lower()
    if scheme.startswith(("sqlite", "postgresql")):
        from loopml.store.sql.store import SqlMetadataStore

        return SqlMetadataStore(uri)
    if scheme in ("http", "https"):
        raise InvalidArgumentError(
            f"remote stores ({uri}) come with the team server; use sqlite:/// or postgresql:// now"
        )
    raise InvalidArgumentError(
        f"unsupported store URI {uri!r}: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    )
