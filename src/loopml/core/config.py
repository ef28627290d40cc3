"""Where the workspace is and which backends it uses, resolved from folders and environment.

Resolution order: explicit arguments, then environment (LOOPML_STORE_URI, LOOPML_ARTIFACT_URI,
LOOPML_SERVER_URI, LOOPML_TOKEN), then the nearest `.loopml/` folder walking up from the current
directory, like git finds `.git/`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from loopml.core.errors import InvalidArgumentError, WorkspaceNotFoundError

WORKSPACE_DIR = ".loopml"
DB_FILE = "loopml.db"
ARTIFACTS_DIR = "artifacts"
CACHE_DIR = "cache"
SETTINGS_FILE = "config.yaml"
PROJECT_FILE = "loopml.yaml"  # pipelines, deployments, alerts and policies (project_config)
DEFAULT_HEARTBEAT_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True, slots=True)
class WorkspaceConfig:
    root: Path | None
    store_uri: str
    artifact_uri: str
    server_uri: str | None = None
    token: str | None = None
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    # Load pickle-based models (the `python` flavor) without `trust=True` on each call.
    # Off unless LOOPML_TRUST_PICKLE or `trust_pickle: true` in .loopml/config.yaml says so.
    trust_pickle: bool = False
    # The folder whose `loopml.yaml` applies: the workspace root; with no `.loopml/` folder
    # (a store from the environment), the nearest folder at or above the current one that
    # holds a `loopml.yaml`.
    project_root: Path | None = None


def find_workspace_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds a `.loopml/` folder."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / WORKSPACE_DIR).is_dir():
            return folder
    return None


def find_project_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds a `loopml.yaml`."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def sqlite_uri(path: Path) -> str:
    # SQLAlchemy percent-decodes the database path and stops it at '?': quote it.
    return f"sqlite:///{quote(str(path.resolve()), safe='/')}"


def local_uri(path: Path) -> str:
    """A `file://` URI for a local folder, as fsspec reads it: the path verbatim (Path.as_uri
    percent-encodes, and fsspec does not decode: a folder named 'my project' would become
    the sibling 'my%20project')."""
    return f"file://{path.resolve()}"


def default_uris(root: Path) -> tuple[str, str]:
    meta = root / WORKSPACE_DIR
    return sqlite_uri(meta / DB_FILE), local_uri(meta / ARTIFACTS_DIR)


def check_artifact_uri(uri: str, setting: str = "LOOPML_ARTIFACT_URI") -> str:
    """Refuse an artifact location holding '#' or '?': fsspec reads them as part of the
    path, URL parsers as a fragment or a query, so two readers would disagree on where the
    artifacts are (or send a query to the object store)."""
    for mark in ("#", "?"):
        if mark in uri:
            raise InvalidArgumentError(
                f"{setting} {uri!r} holds {mark!r}: refused, because a fragment ('#') or a "
                "query ('?') in an artifact location is read differently by different "
                "readers; use a folder or bucket prefix without '#' or '?'"
            )
    return uri


def resolve_config(
    cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> WorkspaceConfig:
    """Resolve the workspace for `cwd` (default: the current directory) and `env`."""
    env = os.environ if env is None else env
    root = find_workspace_root(cwd or Path.cwd())
    store_uri = env.get("LOOPML_STORE_URI") or None
    artifact_uri = env.get("LOOPML_ARTIFACT_URI") or None
    if artifact_uri is not None:
        check_artifact_uri(artifact_uri)
    server_uri = env.get("LOOPML_SERVER_URI") or None
    if server_uri is not None:  # a server replaces the workspace's own stores
        store_uri = store_uri or server_uri
        artifact_uri = artifact_uri or server_uri
    if root is not None:
        default_store, default_artifacts = default_uris(root)
        store_uri = store_uri or default_store
        artifact_uri = artifact_uri or default_artifacts
    if store_uri is None and server_uri is None:
        raise WorkspaceNotFoundError(
            f"no loopml workspace at or above {cwd or Path.cwd()}: run `loopml init` there, "
            "or set LOOPML_STORE_URI"
        )
    if store_uri is not None and artifact_uri is None:
        raise WorkspaceNotFoundError(
            "LOOPML_STORE_URI is set but no artifact location is known: set LOOPML_ARTIFACT_URI"
        )
    # loopml.yaml is read whether the stores come from a `.loopml/` folder or the environment.
    project_root = root if root is not None else find_project_root(cwd or Path.cwd())
    return WorkspaceConfig(
        root=root,
        project_root=project_root,
        store_uri=store_uri or server_uri or "",
        artifact_uri=artifact_uri or "",
        server_uri=server_uri,
        token=env.get("LOOPML_TOKEN") or None,
        heartbeat_timeout=_heartbeat_timeout(env),
        trust_pickle=_trust_pickle(env, root),
    )


_TRUE = ("1", "true", "yes", "on")


def _trust_pickle(env: Mapping[str, str], root: Path | None) -> bool:
    if env.get("LOOPML_TRUST_PICKLE"):
        return env["LOOPML_TRUST_PICKLE"].strip().lower() in _TRUE
    settings = root / WORKSPACE_DIR / SETTINGS_FILE if root is not None else None
    if settings is None or not settings.is_file():
        return False
    import yaml

    try:
        data = yaml.safe_load(settings.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidArgumentError(f"{settings} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgumentError(f"{settings} must hold a mapping of settings")
    return data.get("trust_pickle") is True


def _heartbeat_timeout(env: Mapping[str, str]) -> float:
    raw = env.get("LOOPML_HEARTBEAT_TIMEOUT")
    if not raw:
        return DEFAULT_HEARTBEAT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise InvalidArgumentError(
            f"LOOPML_HEARTBEAT_TIMEOUT must be seconds, got {raw!r}"
        ) from None
    if value <= 0:
        raise InvalidArgumentError(f"LOOPML_HEARTBEAT_TIMEOUT must be positive, got {raw!r}")
    return value
