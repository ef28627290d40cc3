"""scikit-learn estimators and pipelines, saved with skops (no pickle)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidArgumentError
from loopml.registry.flavors import Flavor

FILE = "model.skops"
# Types that register without trust=True: classes of these libraries only. Anything else
# (a user's class, a callable such as os.system inside a FunctionTransformer) needs trust.
SAFE_PREFIXES = ("sklearn.", "numpy.", "scipy.")


class SklearnFlavor(Flavor):
    name = "sklearn"

    def accepts(self, model: Any) -> bool:
        base = sys.modules.get("sklearn.base")
        return base is not None and isinstance(model, base.BaseEstimator)

    def save(self, model: Any, folder: Path) -> list[str]:
        import skops.io

        path = folder / FILE
        skops.io.dump(model, path)
        return sorted(skops.io.get_untrusted_types(file=path))

    def load(self, folder: Path, trusted_types: Sequence[str]) -> Any:
        import skops.io
        from skops.io.exceptions import UntrustedTypesFoundException

        try:  # skops refuses, before constructing anything, every type not in the list
            return skops.io.load(folder / FILE, trusted=list(trusted_types))
        except UntrustedTypesFoundException as exc:
            raise InvalidArgumentError(
                "refusing to load: the stored model holds types that were not in it when it "
                f"was registered: {exc}"
            ) from None

    def risky_types(self, trusted_types: Sequence[str]) -> list[str]:
        return [t for t in trusted_types if not t.startswith(SAFE_PREFIXES)]
