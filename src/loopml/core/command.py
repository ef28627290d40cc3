"""How a person can run the `loopml` command from a shell, for the hints loopml prints.

After `python3 -m venv .venv && .venv/bin/pip install -e .`, `loopml` is not on PATH until the
virtual environment is activated: a hint that says `loopml loop status` would fail. The hints
name the command the way it will work when pasted: `loopml` when the one on PATH is the one
running, else the absolute path of the script beside the running interpreter, else
`PYTHON -m loopml`.
"""

from __future__ import annotations

import functools
import shlex
import shutil
import sys
from pathlib import Path


@functools.cache
def loopml_command() -> str:
    """`loopml`, `/abs/path/.venv/bin/loopml` or `/abs/path/python -m loopml`."""
    # The interpreter's own folder, unresolved: a virtual environment's python is a symlink
    # whose folder (.venv/bin) holds the `loopml` script, while its target's does not.
    beside = Path(sys.executable).absolute().parent / "loopml"
    if not beside.is_file():
        return f"{shlex.quote(str(Path(sys.executable).absolute()))} -m loopml"
    found = shutil.which("loopml")
    if found is not None and _same(Path(found), beside):
        return "loopml"
    return shlex.quote(str(beside))


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
