"""Open a metadata store by URI scheme."""

from __future__ import annotations

from loopml.core.errors import InvalidArgumentError
from loopml.store.base import MetadataStore


def open_store(uri: str, token: str | None = None) -> MetadataStore:
    scheme = uri.split(":", 1)[0].lower()
    if scheme.startswith(("sqlite", "postgresql")):
        from loopml.store.sql.store import SqlMetadataStore

        return SqlMetadataStore(uri)
    if scheme in ("http", "https"):
        from loopml.store.remote import RemoteMetadataStore

        return RemoteMetadataStore(uri, token)
    raise InvalidArgumentError(
        f"unsupported store URI {uri!r}: use sqlite:///PATH, postgresql+psycopg://USER@HOST/DB "
        "or the http(s):// address of a loopml server"
    )
