"""Any object with predict(), via cloudpickle: loading runs code, so it needs trust."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loopml.registry.flavors import Flavor

FILE = "model.cloudpickle"


class PythonFlavor(Flavor):
    name = "python"
    needs_trust = True

    def accepts(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, folder: Path) -> list[str]:
        import cloudpickle

        (folder / FILE).write_bytes(cloudpickle.dumps(model))
        return [f"{type(model).__module__}.{type(model).__qualname__}"]

    def load(self, folder: Path, trusted_types: Sequence[str]) -> Any:
        import cloudpickle

        return cloudpickle.loads((folder / FILE).read_bytes())
