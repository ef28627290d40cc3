"""scikit-learn estimators and pipelines, saved with skops (no pickle)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loopml.artifacts import skops_trust
from loopml.core.errors import InvalidArgumentError
from loopml.registry.flavors import Flavor

FILE = "model.skops"


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
        """Types outside skops' defaults and loopml's vetted list (`skops_trust`): a user's
        class, or any callable (a FunctionTransformer's func, say) that is not one of
        scikit-learn's own defaults."""
        return skops_trust.untrusted(trusted_types)
