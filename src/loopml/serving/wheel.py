"""A wheel of the loopml that is running, for a container build context.

From a source checkout (an editable or folder install: the distribution's `direct_url.json`
names the folder) the wheel is built with `pip wheel --no-deps`; from an installed wheel, the
installed files are packed again (a wheel is a zip of them with its RECORD of digests).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from loopml.core.errors import LoopmlError

BUILD_TIMEOUT_S = 600
SKIPPED = ("RECORD", "INSTALLER", "direct_url.json", "REQUESTED")


def source_folder(dist: metadata.Distribution) -> Path | None:
    """The source checkout the distribution was installed from, when it was."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    url = json.loads(text).get("url", "")
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    folder = Path(unquote(parsed.path))
    return folder if (folder / "pyproject.toml").is_file() else None


def build_wheel(dest: Path) -> Path:
    """Write a wheel of the installed loopml into `dest`; returns its path."""
    dest.mkdir(parents=True, exist_ok=True)
    dist = metadata.distribution("loopml")
    source = source_folder(dist)
    if source is not None:
        return _pip_wheel(source, dest)
    return repack(dist, dest)


def _pip_wheel(source: Path, dest: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dest),
               str(source)]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                              check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LoopmlError(f"could not build a wheel of loopml from {source}: {exc}") from None
    wheels = sorted(dest.glob("loopml-*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no wheel written"])[-1]
        raise LoopmlError(f"could not build a wheel of loopml from {source}: {last}")
    return wheels[-1]


def repack(dist: metadata.Distribution, dest: Path) -> Path:
    """A wheel of an installed (non-editable) distribution, from its own files."""
    files = [f for f in dist.files or () if _packed(f)]
    if not any(str(f).endswith("WHEEL") for f in files):
        raise LoopmlError("loopml is installed without its wheel metadata; install it from a "
                          "wheel or a source folder to build an image")  # fmt: skip
    info = next(f for f in files if str(f).endswith("WHEEL")).parent.as_posix()
    name = f"loopml-{dist.version}-py3-none-any.whl"
    record: list[str] = []
    with zipfile.ZipFile(dest / name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for file in files:
            data = Path(str(file.locate())).read_bytes()
            wheel.writestr(file.as_posix(), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{file.as_posix()},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return dest / name


def _packed(file: metadata.PackagePath) -> bool:
    parts = file.parts
    if not parts or parts[0] == ".." or "__pycache__" in parts or parts[0].endswith(".data"):
        return False  # scripts (..), caches and data: pip makes them again on install
    return not (parts[0].endswith(".dist-info") and parts[-1] in SKIPPED)
