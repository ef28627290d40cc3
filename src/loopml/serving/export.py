"""A self-contained workspace holding one deployment: what a container image serves.

The export is a fresh SQLite `.loopml/` with only the records the deployment needs (its model
versions, their aliases, the deployment's routes) and the model files, copied by digest and
verified on the way: the files are written out from the source store (digests checked on
read) and stored again, and the copy must come out under the same digest.

Version numbers are kept (a deployment routing `iris/4` serves `iris/4` in the image too, and
its predictions say so): the store numbers versions 1, 2, 3... with a counter, so the numbers
below an exported one are taken by placeholders that are deleted straight away.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from loopml.core.config import (
    ARTIFACTS_DIR,
    CACHE_DIR,
    WORKSPACE_DIR,
    WorkspaceConfig,
    default_uris,
)
from loopml.core.dirs import make_dirs
from loopml.core.errors import IntegrityError
from loopml.core.models import ModelVersion
from loopml.core.serving import Deployment
from loopml.workspace import Workspace

ACTOR = "loopml-build"
PLACEHOLDER_DIGEST = "0" * 64


@dataclasses.dataclass(frozen=True, slots=True)
class Export:
    root: Path  # the folder holding `.loopml/`
    deployment: Deployment
    versions: tuple[ModelVersion, ...]  # as recorded in the source store


def deployment_versions(ws: Workspace, deployment: Deployment) -> list[ModelVersion]:
    """The model versions the deployment's routes serve, each once, in route order."""
    seen: dict[str, ModelVersion] = {}
    for route in deployment.routes:
        if route.uri not in seen:
            seen[route.uri] = ws.store.models.get_version(route.model, route.version)
    return list(seen.values())


def open_fresh(root: Path) -> Workspace:
    """A new workspace in `root` whose stores are its own (never LOOPML_* from the
    environment: the export must not write into the team's store)."""
    make_dirs(root / WORKSPACE_DIR / ARTIFACTS_DIR)
    make_dirs(root / WORKSPACE_DIR / CACHE_DIR)
    store_uri, artifact_uri = default_uris(root)
    config = WorkspaceConfig(root=root, project_root=root, store_uri=store_uri,
                             artifact_uri=artifact_uri)  # fmt: skip
    return Workspace.from_config(config)


def export_deployment(source: Workspace, name: str, root: Path) -> Export:
    """Write a workspace serving deployment `name` (as `source` records it) into `root`."""
    deployment = source.store.deployments.get(name)
    versions = deployment_versions(source, deployment)
    target = open_fresh(root)
    try:
        for version in sorted(versions, key=lambda v: (v.name, v.version)):
            _copy_files(source, target, version)
            _copy_record(target, version)
        for version in versions:
            for alias in version.aliases:
                target.store.models.set_alias(version.name, alias, version.version,
                                              actor=ACTOR, reason="exported")  # fmt: skip
        reason = f"exported at revision {deployment.revision}"
        target.store.deployments.create(name, deployment.routes, actor=ACTOR, reason=reason)
    finally:
        target.close()
    return Export(root, deployment, tuple(versions))


def _copy_files(source: Workspace, target: Workspace, version: ModelVersion) -> None:
    from loopml.artifacts import objects

    stored = objects.Stored(version.digest, objects.FOLDER, version.size)
    with tempfile.TemporaryDirectory(prefix="loopml-export-") as scratch:
        folder = objects.write_out(source.artifacts, stored, Path(scratch) / "m",
                                   what=f"model {version.uri}")  # fmt: skip
        copied = objects.store(target.artifacts, folder)
    if copied.digest != version.digest:
        raise IntegrityError(
            f"model {version.uri}: its files copied as {copied.digest[:12]}, not the "
            f"recorded {version.digest[:12]}"
        )


def _copy_record(target: Workspace, version: ModelVersion) -> None:
    models = target.store.models
    known = [v.version for v in _versions(target, version.name)]
    last = max(known, default=0)
    for number in range(last + 1, version.version):  # placeholders keep the numbering
        models.create_version(version.name, flavor=version.flavor, digest=PLACEHOLDER_DIGEST,
                              size=0)  # fmt: skip
        models.delete_version(version.name, number, actor=ACTOR)
    tags = dict(version.tags)
    if version.run_id:
        tags["loopml.source_run"] = version.run_id  # the run itself is not exported
    copied = models.create_version(
        version.name, flavor=version.flavor, digest=version.digest, size=version.size,
        signature=version.signature, metrics=dict(version.metrics), tags=tags,
        description=version.description, trusted_types=version.trusted_types,
    )  # fmt: skip
    if copied.version != version.version:
        raise IntegrityError(f"exported {version.uri} as version {copied.version}")


def _versions(target: Workspace, name: str) -> list[ModelVersion]:
    from loopml.core.errors import NotFoundError

    try:
        return target.store.models.list_versions(name)
    except NotFoundError:
        return []
