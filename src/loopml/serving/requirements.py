"""Pinned requirements for serving a model: what loopml and the model's flavor need, at the
versions the model was trained with.

The packages are the closure of loopml's own dependencies plus the flavor's libraries, walked
through the installed distributions' metadata (markers evaluated here, for this Python on this
platform: the image's base is chosen to match). Each is pinned to the version recorded in the
training run's environment (the `name==version` blob a run's `env_digest` names) when there is
one, else to the version installed here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from importlib import metadata

from loopml.core.models import ModelVersion
from loopml.workspace import Workspace

# Distributions a flavor's models need beyond loopml's own dependencies.
FLAVOR_PACKAGES = {
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "onnx": ("onnxruntime",),
    "pytorch": ("torch", "safetensors"),
    "transformers": ("torch", "safetensors", "transformers", "tokenizers"),
    "keras": ("torch", "keras"),
}
SELF = "loopml"

PYTORCH_PACKAGES = frozenset({"torch", "torchvision", "torchaudio"})
PYTORCH_INDEX = "https://download.pytorch.org/whl"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclasses.dataclass(frozen=True, slots=True)
class Pins:
    pins: dict[str, str]  # normalized name -> version
    recorded: frozenset[str]  # the names pinned to a training run's recorded version
    python_version: str | None  # the training run's Python, when recorded
    conflicts: tuple[str, ...] = ()  # routes trained with different versions of a package

    def lines(self) -> list[str]:
        """requirements.txt: the pins, after the PyTorch index that serves a pinned local
        build (`torch==2.13.0+cpu` is on download.pytorch.org/whl/cpu, not on PyPI)."""
        builds = sorted({version.split("+", 1)[1] for name, version in self.pins.items()
                         if name in PYTORCH_PACKAGES and "+" in version})  # fmt: skip
        indexes = [f"--extra-index-url {PYTORCH_INDEX}/{build}" for build in builds]
        return indexes + [f"{name}=={version}" for name, version in sorted(self.pins.items())]


def recorded_environment(ws: Workspace, version: ModelVersion) -> tuple[dict[str, str], str | None]:
    """The packages and Python version of the run that trained `version` ({} when unknown)."""
    if not version.run_id:
        return {}, None
    run = ws.store.runs.get(version.run_id)
    if run.env_digest is None:
        return {}, run.python_version
    text = ws.artifacts.get_bytes(run.env_digest, what=f"environment of run {run.id}").decode()
    return parse_pins(text.splitlines()), run.python_version


def parse_pins(lines: Iterable[str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lines:
        name, sep, version = line.strip().partition("==")
        if sep and name and version:
            pins[normalize(name)] = version.strip()
    return pins


def installed_closure(roots: Iterable[str]) -> dict[str, str]:
    """Every installed distribution `roots` need (themselves included), name -> version.
    A root that is not installed is an error: the image could not be checked against it."""
    from packaging.requirements import Requirement

    from loopml.core.errors import InvalidArgumentError

    found: dict[str, str] = {}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    pending: list[tuple[str, tuple[str, ...]]] = [(normalize(name), ()) for name in roots]
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise InvalidArgumentError(
                f"package {name!r} is needed to serve the model but is not installed here"
            ) from None
        found[name] = dist.version
        for text in dist.requires or ():
            requirement = Requirement(text)
            if _applies(requirement, extras):
                child = (normalize(requirement.name), tuple(sorted(requirement.extras)))
                pending.append(child)
    return found


def _applies(requirement: object, extras: tuple[str, ...]) -> bool:
    marker = getattr(requirement, "marker", None)
    if marker is None:
        return True
    return any(marker.evaluate({"extra": extra}) for extra in (*extras, ""))


def pin(ws: Workspace, versions: Iterable[ModelVersion]) -> Pins:
    """Pins for serving `versions` (the first one's recorded environment wins a conflict)."""
    versions = list(versions)
    recorded: dict[str, str] = {}
    conflicts: list[str] = []
    python: str | None = None
    for version in versions:
        env, run_python = recorded_environment(ws, version)
        python = python or run_python
        conflicts += _conflicts(recorded, env, version)
        recorded = {**env, **recorded}
    roots = [SELF, *(p for v in versions for p in FLAVOR_PACKAGES.get(v.flavor, ()))]
    closure = installed_closure(roots)
    closure.pop(SELF, None)  # loopml itself comes as a wheel built from this installation
    pins = {name: recorded.get(name, here) for name, here in closure.items()}
    used = frozenset(name for name in pins if name in recorded)
    return Pins(pins, used, python, tuple(conflicts))


def _conflicts(
    recorded: Mapping[str, str], env: Mapping[str, str], version: ModelVersion
) -> list[str]:
    return [
        f"{name}: {recorded[name]} (kept) vs {env[name]} ({version.uri})"
        for name in sorted(env.keys() & recorded.keys())
        if env[name] != recorded[name]
    ]
