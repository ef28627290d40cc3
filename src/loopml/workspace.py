"""A Workspace carries the resolved configuration and the stores opened from it.

There is no global workspace: the module-level API resolves the one for the current folder
and environment on each call, and reuses stores already opened for that same configuration
in this process (so a loop of calls does not reconnect every time).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loopml.core.config import (
    ARTIFACTS_DIR,
    CACHE_DIR,
    WORKSPACE_DIR,
    WorkspaceConfig,
    resolve_config,
)
from loopml.core.dirs import make_dirs
from loopml.core.errors import WorkspaceNotFoundError
from loopml.store.base import MetadataStore
from loopml.store.factory import open_store

if TYPE_CHECKING:  # imported where used: commands that only read metadata never load them
    from loopml.artifacts.cas import ContentStore


class Workspace:
    def __init__(
        self, config: WorkspaceConfig, store: MetadataStore, artifacts: ContentStore | None = None
    ):
        self.config = config
        self.store = store
        self._artifacts = artifacts

    @property
    def artifacts(self) -> ContentStore:
        # Opened on first use: commands that only read metadata skip importing fsspec.
        if self._artifacts is None:
            self._artifacts = self._open_artifacts()
        return self._artifacts

    def _open_artifacts(self) -> ContentStore:
        uri = self.config.artifact_uri
        if not uri.startswith(("http://", "https://")):
            from loopml.artifacts.factory import open_artifacts

            return open_artifacts(uri)
        from loopml.artifacts.remote import RemoteContentStore
        from loopml.store.remote import RemoteClient

        client = getattr(self.store, "client", None)
        if not isinstance(client, RemoteClient) or client.uri != uri.rstrip("/"):
            client = RemoteClient(uri, self.config.token)
        return RemoteContentStore(client)  # type: ignore[return-value]

    @classmethod
    def from_config(cls, config: WorkspaceConfig) -> Workspace:
        store = open_store(config.store_uri, config.token)
        workspace = cls(config, store)
        store.runs.fail_stale(config.heartbeat_timeout)
        return workspace

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Workspace:
        """Open the workspace found at or above `path` (default: the current folder)."""
        return cls.from_config(resolve_config(Path(path) if path else None))

    @classmethod
    def init(cls, path: str | os.PathLike[str] | None = None) -> Workspace:
        """Create `.loopml/` in `path` (default: the current folder) unless it exists; open it."""
        root = Path(path or Path.cwd()).resolve()
        root.mkdir(parents=True, exist_ok=True)  # the user's folder: its mode is theirs
        _make_workspace_dirs(root)
        return cls.from_config(resolve_config(root))

    @classmethod
    def current(cls, *, create: bool = False) -> Workspace:
        """The workspace for the current folder and environment, opened once per process.

        With `create`, a folder with no workspace above it gets a new `.loopml/` (and a note
        on stderr), the way a first `start_run` in a fresh folder is expected to just work.
        """
        try:
            config = resolve_config()
        except WorkspaceNotFoundError:
            if not create:
                raise
            print(f"loopml: created a workspace in {Path.cwd() / WORKSPACE_DIR}", file=sys.stderr)
            _make_workspace_dirs(Path.cwd())
            config = resolve_config()
        return cls.for_config(config)

    @classmethod
    def for_config(cls, config: WorkspaceConfig) -> Workspace:
        """The workspace for `config`, opened once per process (as `current` does)."""
        return _opened(config, os.getpid())

    @property
    def root(self) -> Path | None:
        return self.config.root

    @property
    def cache_dir(self) -> Path:
        """Machine-local caches: `.loopml/cache`, or ~/.cache/loopml for a store from the
        environment with no workspace folder."""
        if self.config.root is not None:
            return self.config.root / WORKSPACE_DIR / CACHE_DIR
        return Path.home() / ".cache" / "loopml"

    def close(self) -> None:
        self.store.close()

    def __repr__(self) -> str:
        return f"Workspace(store={self.config.store_uri!r}, artifacts={self.config.artifact_uri!r})"


def _make_workspace_dirs(root: Path) -> None:
    """`.loopml/`, its artifacts and its cache, private to the owner (0700)."""
    make_dirs(root / WORKSPACE_DIR / ARTIFACTS_DIR)
    make_dirs(root / WORKSPACE_DIR / CACHE_DIR)


@functools.lru_cache(maxsize=16)
def _opened(config: WorkspaceConfig, pid: int) -> Workspace:
    # Keyed by pid too: a forked child must not reuse its parent's database connections.
    return Workspace.from_config(config)
