"""Output folders that a command owns: written whole in a staging folder beside them, then
swapped in, replacing only an earlier output of the same command (known by its marker file),
never a folder of someone else's files."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from loopml.core.errors import InvalidArgumentError


def check_output(output: Path, marker: str, what: str) -> Path:
    output = output.resolve()
    ours = output.is_dir() and (not any(output.iterdir()) or (output / marker).is_file())
    if output.exists() and not ours:
        raise InvalidArgumentError(f"{output} exists and is not {what}: choose another --output")
    output.parent.mkdir(parents=True, exist_ok=True)
    return output


@contextlib.contextmanager
def staged(output: Path) -> Iterator[Path]:
    """A fresh folder to fill; on success it replaces `output`, on failure it is removed."""
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    staging.chmod(0o755)  # an output to share (a build context, manifests), not a secret
    try:
        yield staging
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
