"""Optional dependencies: which extra of loopml brings which module, in one place.

A missing optional module is reported in one line that names the extra to install,
`pip install 'loopml[postgres]'`, instead of a traceback ending in `No module named 'psycopg'`.
The library raises `MissingExtraError` where it imports them (`require`, `missing_extra`), and
the CLI turns any `ModuleNotFoundError` for one of them into the same line.

The table mirrors `[project.optional-dependencies]` in pyproject.toml (a test checks that every
distribution listed there has its module here).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from loopml.core.errors import LoopmlError

# top-level module -> (extra, what it is for)
EXTRAS: dict[str, tuple[str, str]] = {
    "psycopg": ("postgres", "a PostgreSQL store (postgresql+psycopg://)"),
    "psycopg_binary": ("postgres", "a PostgreSQL store (postgresql+psycopg://)"),
    "s3fs": ("s3", "s3:// artifacts"),
    "aiobotocore": ("s3", "s3:// artifacts"),
    "botocore": ("s3", "s3:// artifacts"),
    "optuna": ("tune", "loopml.tune"),
    "xgboost": ("flavors", "XGBoost models"),
    "lightgbm": ("flavors", "LightGBM models"),
    "onnx": ("flavors", "ONNX models"),
    "onnxruntime": ("flavors", "ONNX models"),
    "ray": ("ray", "the Ray executor"),
    "matplotlib": ("figures", "figures drawn with matplotlib"),
    "PIL": ("figures", "images (Pillow comes with matplotlib)"),
    "psutil": ("system", "system metrics (start_run(log_system_metrics=True))"),
    "polars": ("polars", "polars DataFrames"),
    "torch": ("torch", "PyTorch models"),
    "safetensors": ("torch", "PyTorch models (safetensors weights)"),
    "transformers": ("transformers", "Hugging Face transformers models"),
    "tokenizers": ("transformers", "Hugging Face tokenizers"),
    "keras": ("keras", "Keras models"),
}

# pyproject's distribution names whose module is named otherwise
DISTRIBUTION_MODULES = {"xgboost-cpu": "xgboost", "psycopg[binary]": "psycopg"}


class MissingExtraError(LoopmlError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, module: str, extra: str, purpose: str | None = None) -> None:
        purpose = purpose or EXTRAS.get(module, (extra, ""))[1]
        super().__init__(
            f"the Python package {module!r}{f' (for {purpose})' if purpose else ''} is not "
            f"installed: pip install 'loopml[{extra}]'"
        )
        self.name = module
        self.extra = extra


def extra_for(module: str | None) -> str | None:
    """The extra that brings `module` (or its top-level package), if one does."""
    if not module:
        return None
    found = EXTRAS.get(module.split(".", 1)[0])
    return found[0] if found else None


def missing_extra(exc: BaseException, purpose: str | None = None) -> MissingExtraError | None:
    """The one-line error for an ImportError of an optional module, else None."""
    if isinstance(exc, MissingExtraError):
        return exc
    if not isinstance(exc, ImportError):
        return None
    name = getattr(exc, "name", None)
    extra = extra_for(name)
    if extra is None or name is None:
        return None
    return MissingExtraError(name.split(".", 1)[0], extra, purpose)


def require(module: str, purpose: str | None = None) -> ModuleType:
    """Import `module`, or raise MissingExtraError naming its extra when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        error = missing_extra(exc, purpose)
        if error is None:
            raise
        raise error from None
