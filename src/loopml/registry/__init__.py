"""The model registry: versions, aliases, safe flavors, signatures, and the champion gate.

    loopml.registry.register("iris-clf", model, input_example=frame, metrics={"acc": 0.93})
    loopml.registry.set_alias("iris-clf", "champion", 3, reason="beat v2 by 2 points")
    model = loopml.registry.load("iris-clf@champion"); model.predict(frame)

The functions live in `loopml.registry.api` and load on first use (nothing at import).
"""

from __future__ import annotations

import importlib
from typing import Any

_API = (
    "register", "load", "get_version", "resolve", "list_models", "list_versions", "get_model",
    "set_alias", "delete_alias", "get_alias", "archive", "delete_version", "update_version",
    "update_model", "history", "compare", "GatePolicy", "GateDecision", "LoadedModel",
    "autolog", "torch_model", "transformers_model", "keras_model",
)  # fmt: skip
_HOMES = {"compare": "gate", "GatePolicy": "gate", "GateDecision": "gate", "LoadedModel": "loaded",
          "autolog": "autolog", "torch_model": "flavors.pytorch",
          "transformers_model": "flavors.huggingface", "keras_model": "flavors.keras"}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'loopml.registry' has no attribute {name!r}")
    module = importlib.import_module(f"loopml.registry.{_HOMES.get(name, 'api')}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(_API)
