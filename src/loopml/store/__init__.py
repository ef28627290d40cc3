"""Metadata store: one small interface per record kind, chosen by URI scheme."""

from loopml.store.base import MetadataStore, ProjectStore, RunPage, RunStore

__all__ = ["MetadataStore", "ProjectStore", "RunPage", "RunStore"]
