"""What a run ran with: the git commit, the uncommitted diff, Python and installed packages.

Captured once per process for the environment and at most every few seconds for git, so that
starting many runs in a loop does not spawn git or scan site-packages each time.
"""

from __future__ import annotations

import dataclasses
import functools
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from loopml.artifacts.cas import ContentStore
from loopml.core.entities import CodeVersion

GIT_TIMEOUT_S = 10
GIT_CACHE_S = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class CodeCapture:
    version: CodeVersion
    diff: bytes  # the uncommitted diff (empty when clean), stored as a blob by the caller

    def version_with_diff(self, cas: ContentStore) -> CodeVersion:
        """The code version, with the diff stored in `cas` and named by its digest."""
        if not self.diff:
            return self.version
        return dataclasses.replace(self.version, diff_digest=cas.put_bytes(self.diff))


@dataclasses.dataclass(frozen=True, slots=True)
class EnvironmentCapture:
    python_version: str
    packages: bytes  # "name==version" lines, sorted; its digest is the environment digest


def _git(cwd: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def capture_code(cwd: Path | None = None) -> CodeCapture:
    cwd = (cwd or Path.cwd()).resolve()
    return _capture_code_cached(cwd, int(time.monotonic() // GIT_CACHE_S))


@functools.lru_cache(maxsize=32)
def _capture_code_cached(cwd: Path, _time_bucket: int) -> CodeCapture:
    root = _git(cwd, "rev-parse", "--show-toplevel")
    if root is None:
        return CodeCapture(CodeVersion(), b"")
    commit = _git(cwd, "rev-parse", "HEAD")
    diff = _git(cwd, "diff", "HEAD", "--no-color", "--no-ext-diff") or b""
    return CodeCapture(
        CodeVersion(
            commit=commit.decode().strip() if commit else None, repo_root=root.decode().strip()
        ),
        diff,
    )


@functools.cache
def capture_environment() -> EnvironmentCapture:
    names = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            names[name.lower()] = dist.version
    lines = "\n".join(f"{name}=={version}" for name, version in sorted(names.items()))
    return EnvironmentCapture(platform.python_version(), lines.encode())
