"""Folders loopml creates for itself, with an explicit mode instead of the umask's.

The workspace's `.loopml/` (database, artifacts), caches (model copies, uploads, downloads)
and the spool of unsent run endings hold data and metadata other local users have no business
reading: every folder loopml makes for them is 0700 (owner only), whatever the umask says.
Folders that already exist keep their mode (an operator may have opened them on purpose).
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700


def make_dirs(path: str | os.PathLike[str], mode: int = PRIVATE_DIR_MODE) -> Path:
    """`mkdir -p`, giving exactly `mode` to each folder it creates (parents included)."""
    target = Path(path)
    missing = []
    folder = target
    while not folder.is_dir():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made by someone else meanwhile: theirs to set
        os.chmod(folder, mode)  # mkdir's mode is narrowed by the umask; set it as asked
    return target
