"""Load a pipeline named FILE.py:NAME from a user's file (the CLI and the controller do)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidArgumentError
from loopml.pipelines.pipeline import Pipeline


def load_pipeline(target: str, root: Path | None = None) -> Pipeline:
    """The pipeline object named by FILE.py:NAME (a relative FILE is read from `root`)."""
    path_text, _, name = target.rpartition(":")
    path = Path(path_text)
    if root is not None and not path.is_absolute():
        path = root / path
    if not path_text or not name or path.suffix != ".py":
        raise InvalidArgumentError(f"expected FILE.py:PIPELINE, got {target!r}")
    if not path.is_file():
        raise InvalidArgumentError(f"{path} is not a file")
    module = _import_file(path.resolve())
    found = getattr(module, name, None)
    if not isinstance(found, Pipeline):
        known = [k for k, v in vars(module).items() if isinstance(v, Pipeline)]
        raise InvalidArgumentError(
            f"{path} has no @loopml.pipeline named {name!r}"
            + (f" (it has: {', '.join(known)})" if known else "")
        )
    return found


def _import_file(path: Path) -> Any:
    import cloudpickle

    module_name = f"loopml_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(path.parent))  # so the file's own imports of its neighbours work
    spec.loader.exec_module(module)
    # Worker processes cannot import this module by name: send its functions by value.
    cloudpickle.register_pickle_by_value(module)
    return module
