"""Container engines: docker or podman, used only when the client is there AND answers."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

from loopml.core.errors import InvalidArgumentError, LoopmlError

ENGINES = ("docker", "podman")
INFO_TIMEOUT_S = 20


@dataclasses.dataclass(frozen=True, slots=True)
class Probe:
    name: str
    path: str | None  # the client, when on PATH
    answers: bool  # `ENGINE info` succeeded: a daemon (or podman's runtime) is there
    reason: str  # why not, in a few words

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def probe(name: str) -> Probe:
    path = shutil.which(name)
    if path is None:
        return Probe(name, None, False, "not installed")
    try:
        done = subprocess.run([path, "info"], capture_output=True, text=True,
                              timeout=INFO_TIMEOUT_S, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Probe(name, path, False, f"`{name} info` failed ({type(exc).__name__})")
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line]
        why = lines[-1] if lines else f"exit {done.returncode}"
        return Probe(name, path, False, f"no daemon answers ({why[:160]})")
    return Probe(name, path, True, "answers")


def choose(engine: str) -> tuple[Probe | None, list[Probe]]:
    """The engine to build with (None: none usable) and every probe made.
    `engine`: auto (the first that answers), docker, podman, or none (never build)."""
    if engine == "none":
        return None, []
    if engine not in ("auto", *ENGINES):
        raise InvalidArgumentError(f"unknown --engine {engine!r}: use docker, podman or none")
    probes = [probe(name) for name in (ENGINES if engine == "auto" else (engine,))]
    usable = next((p for p in probes if p.answers), None)
    if usable is None and engine != "auto":
        raise InvalidArgumentError(f"cannot build with {probes[0]}")
    return usable, probes


def build(engine: Probe, context: Path, tag: str, *, timeout: float | None = None) -> None:
    """`ENGINE build -t TAG CONTEXT`, its output on the terminal."""
    assert engine.path is not None
    try:
        done = subprocess.run([engine.path, "build", "-t", tag, str(context)], timeout=timeout,
                              check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise LoopmlError(f"{engine.name} build of {tag} took over {timeout:.0f} s") from None
    if done.returncode != 0:
        raise LoopmlError(f"{engine.name} build of {tag} failed (exit {done.returncode}); "
                          f"the context is in {context}")  # fmt: skip
