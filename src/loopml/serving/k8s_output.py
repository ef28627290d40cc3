"""Write the manifests of `loopml k8s` as YAML files (PyYAML from dicts) and kustomizations.

DIR/kustomization.yaml   both bases, in one namespace
DIR/serving/             the deployment's Deployment, Service, HPA and Secret
DIR/team/                the server and the controller, their Secret, loopml.yaml
DIR/loopml-k8s.json      what was written (and the marker that DIR is ours to replace)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from loopml.core.config import PROJECT_FILE
from loopml.core.errors import InvalidArgumentError
from loopml.serving.container import default_tag
from loopml.serving.k8s import Manifest, dns_name, serving_manifests
from loopml.serving.k8s_team import team_kustomization, team_manifests
from loopml.serving.outdir import check_output, staged
from loopml.workspace import Workspace

MARKER = "loopml-k8s.json"
SECRET_NOTE = """\
# The values are left empty on purpose, and this file is not in kustomization.yaml, so that
# `kubectl apply -k` never overwrites them: fill in a copy outside version control and apply
# it once (kubectl apply -f), or create it directly, e.g.
#   kubectl create secret generic {name} --from-literal={first}=...
# or with your secret manager. Keys left empty count as unset.
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Manifests:
    folder: Path
    image: str
    files: tuple[str, ...]  # relative to folder


def write_manifests(
    ws: Workspace,
    deployment: str,
    output: Path,
    *,
    image: str | None = None,
    replicas: int = 1,
    max_replicas: int | None = None,
    namespace: str = "default",
) -> Manifests:
    current = ws.store.deployments.get(deployment)  # a clear error before any work
    image = _check_image(image or default_tag(deployment, current.revision))
    max_replicas = max(3, replicas * 3) if max_replicas is None else max_replicas
    _check_counts(replicas, max_replicas)
    if dns_name(namespace) != namespace:
        raise InvalidArgumentError(f"--namespace {namespace!r} is not a DNS label")
    output = check_output(output, MARKER, "a folder of loopml k8s manifests")
    serving = serving_manifests(deployment, image, replicas=replicas, max_replicas=max_replicas,
                                namespace=namespace)  # fmt: skip
    team = team_manifests(image, namespace=namespace)
    with staged(output) as staging:
        files = _write_base(staging / "serving", serving, _kustomization(_applied(serving)))
        files += _write_base(staging / "team", team, team_kustomization(_applied(team)))
        (staging / "team" / PROJECT_FILE).write_text(_project_file(ws))
        top = _kustomization(["serving", "team"], namespace=namespace)
        _dump(staging / "kustomization.yaml", top)
        files += ["team/loopml.yaml", "kustomization.yaml"]
        summary = {"deployment": deployment, "revision": current.revision, "image": image,
                   "namespace": namespace, "replicas": replicas, "max_replicas": max_replicas,
                   "files": sorted(files)}  # fmt: skip
        (staging / MARKER).write_text(json.dumps(summary, indent=2) + "\n")
    return Manifests(output, image, tuple(sorted(files)))


def _check_image(image: str) -> str:
    if not image or any(c.isspace() for c in image) or image.startswith("-"):
        raise InvalidArgumentError(f"--image {image!r} is not an image reference")
    return image


def _check_counts(replicas: int, max_replicas: int) -> None:
    if replicas < 1:
        raise InvalidArgumentError(f"--replicas must be at least 1, got {replicas}")
    if max_replicas < replicas:
        raise InvalidArgumentError(
            f"--max-replicas ({max_replicas}) must be at least --replicas ({replicas})"
        )


def _applied(manifests: dict[str, Manifest]) -> list[str]:
    """The files `kubectl apply -k` applies: all but the Secrets (see SECRET_NOTE)."""
    return [name for name, manifest in manifests.items() if manifest["kind"] != "Secret"]


def _kustomization(resources: list[str], *, namespace: str | None = None) -> Manifest:
    doc: Manifest = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    if namespace is not None:
        doc["namespace"] = namespace
    doc["resources"] = resources
    return doc


def _write_base(folder: Path, manifests: dict[str, Manifest], kustomization: Manifest) -> list[str]:
    folder.mkdir()
    for name, manifest in manifests.items():
        note = ""
        if manifest["kind"] == "Secret":
            first = next(iter(manifest["stringData"]))
            note = SECRET_NOTE.format(name=manifest["metadata"]["name"], first=first)
        _dump(folder / name, manifest, note)
    _dump(folder / "kustomization.yaml", kustomization)
    return [f"{folder.name}/{name}" for name in (*manifests, "kustomization.yaml")]


def _dump(path: Path, doc: Any, note: str = "") -> None:
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # plain YAML: no &anchors for the label maps used twice

    header = "# Written by `loopml k8s`.\n" + note
    text = yaml.dump(doc, Dumper=Dumper, sort_keys=False, default_flow_style=False)
    path.write_text(header + text)


def _project_file(ws: Workspace) -> str:
    """The project's loopml.yaml (the controller's policies), or an empty configuration."""
    root = ws.config.project_root
    source = root / PROJECT_FILE if root is not None else None
    if source is not None and source.is_file():
        return source.read_text(encoding="utf-8")
    return "# The project had no loopml.yaml: the controller has no policies to follow.\n{}\n"
