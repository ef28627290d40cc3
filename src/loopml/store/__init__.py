"""Metadata store: one small interface per record kind, chosen by URI scheme."""

from loopml.store.base import MetadataStore, ProjectStore, RunStore, RunPage

__all__ = ["MetadataStore", "ProjectStore", "RunPage", "RunStore"]
