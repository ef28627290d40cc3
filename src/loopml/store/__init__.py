"""Metadata store: one small interface per record kind, chosen by URI scheme."""

from loopml.store.base import DatasetStore, MetadataStore, ProjectStore, RunPage, RunStore

__all__ = ["DatasetStore", "MetadataStore", "ProjectStore", "RunPage", "RunStore"]
