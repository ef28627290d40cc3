"""`loopml build`: a container build context that serves one deployment, self-contained.

    DIR/Dockerfile        python:X.Y-slim, a non-root user, HEALTHCHECK on /v2/health/ready
    DIR/requirements.txt  pinned: loopml's and the flavors' dependencies, at the training run's
                          recorded versions (serving.requirements)
    DIR/wheels/           a wheel of this loopml (it is not on a package index)
    DIR/workspace/        a fresh SQLite `.loopml/` with only the deployment and its model
                          versions, files verified by digest (serving.export)
    DIR/entrypoint.sh     `loopml serve` of the deployment; refuses to start without
                          LOOPML_SERVE_TOKEN
    DIR/build.json        what was written, and the commands that install and run it

The embedded workspace is served unless LOOPML_STORE_URI (with LOOPML_ARTIFACT_URI) or
LOOPML_SERVER_URI point at the team's stores: the environment wins over the folder, so the
predictions then land in the shared log.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

from loopml.core.errors import InvalidArgumentError
from loopml.core.models import ModelVersion
from loopml.serving import dockerfile
from loopml.serving.export import Export, export_deployment
from loopml.serving.outdir import check_output, staged
from loopml.serving.requirements import Pins, pin
from loopml.workspace import Workspace

MARKER = "build.json"
DEFAULT_PYTHON = "3.11"
_TAG = re.compile(r"[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"
                  r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?")  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    folder: Path
    tag: str
    export: Export
    pins: Pins
    python: str
    wheel: Path

    def summary(self) -> dict[str, object]:
        return json.loads((self.folder / MARKER).read_text())


def default_tag(deployment: str, revision: int) -> str:
    return f"loopml-{_dns_name(deployment)}:r{revision}"


def _dns_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "deployment"


def check_tag(tag: str) -> str:
    if not _TAG.fullmatch(tag):
        raise InvalidArgumentError(
            f"image tag {tag!r} is invalid: use lower-case NAME[:TAG], e.g. loopml-iris:1"
        )
    return tag


def write_context(
    ws: Workspace,
    deployment: str,
    output: Path,
    *,
    tag: str | None = None,
    trust: bool = False,
    wheel: Path | None = None,
) -> Context:
    """Write the build context for `deployment` into `output` (replacing an earlier context
    there, never another folder's files). `wheel`: use this loopml wheel instead of building."""
    current = ws.store.deployments.get(deployment)  # a clear error before any work
    tag = check_tag(tag or default_tag(deployment, current.revision))
    output = check_output(output, MARKER, "a loopml build context")
    with staged(output) as staging:
        export = export_deployment(ws, deployment, staging / "workspace")
        _check_trust(export.versions, trust)
        pins = pin(ws, export.versions)
        python = _python(pins)
        built = _wheel(staging / "wheels", wheel)
        _write_files(staging, export, pins, python, built.name, tag, trust)
    return Context(output, tag, export, pins, python, output / "wheels" / built.name)


def _check_trust(versions: tuple[ModelVersion, ...], trust: bool) -> None:
    from loopml.registry.flavors import flavor_named

    for version in versions:
        flavor = flavor_named(version.flavor)
        if (flavor.needs_trust or flavor.risky_types(version.trusted_types)) and not trust:
            raise InvalidArgumentError(
                f"{version.uri} is a {version.flavor} model whose loading can run arbitrary "
                "code: pass --trust to build an image that loads it (only if you trust "
                "whoever registered it)"
            )


def _python(pins: Pins) -> str:
    """The image's Python: the training run's major.minor when recorded, else 3.11."""
    if pins.python_version:
        match = re.match(r"(\d+)\.(\d+)", pins.python_version)
        if match and (int(match[1]), int(match[2])) >= (3, 11):
            return f"{match[1]}.{match[2]}"
    return DEFAULT_PYTHON


def _wheel(dest: Path, given: Path | None) -> Path:
    from loopml.serving.wheel import build_wheel

    if given is None:
        return build_wheel(dest)
    if not given.is_file() or not given.name.startswith("loopml-") or given.suffix != ".whl":
        raise InvalidArgumentError(f"{given} is not a loopml wheel")
    dest.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(given, dest / given.name))


def _write_files(
    folder: Path, export: Export, pins: Pins, python: str, wheel: str, tag: str, trust: bool
) -> None:
    name = export.deployment.name
    (folder / "requirements.txt").write_text(
        f"# Pinned for serving deployment {name} (loopml build); {len(pins.recorded)} of "
        f"{len(pins.pins)} at the training run's recorded versions.\n"
        + "\n".join(pins.lines()) + "\n"
    )  # fmt: skip
    (folder / "Dockerfile").write_text(dockerfile.dockerfile(name, python, wheel, trust=trust))
    (folder / ".dockerignore").write_text("build.json\n")
    entry = folder / dockerfile.ENTRYPOINT
    entry.write_text(dockerfile.entrypoint(name))
    entry.chmod(0o755)
    summary = {
        "deployment": name,
        "revision": export.deployment.revision,
        "routes": [r.to_json() for r in export.deployment.routes],
        "models": {v.uri: v.digest for v in export.versions},
        "image": tag,
        "python": python,
        "base_image": dockerfile.base_image(python),
        "wheel": f"wheels/{wheel}",
        "requirements": len(pins.pins),
        "recorded_requirements": len(pins.recorded),
        "conflicts": list(pins.conflicts),
        "install": ["pip", "install", "-r", "requirements.txt", f"wheels/{wheel}"],
        "entrypoint": [f"./{dockerfile.ENTRYPOINT}"],
        "port": dockerfile.PORT,
    }
    (folder / MARKER).write_text(json.dumps(summary, indent=2) + "\n")
