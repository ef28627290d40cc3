"""Flavors: how each kind of model is saved in its safest native format and loaded back.

A flavor saves a model into a folder and returns the list of types that loading may
construct; that list goes into the metadata store and is the only trust list used on load.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidArgumentError


class Flavor(abc.ABC):
    name: str = ""
    needs_trust: bool = False  # loading can run arbitrary code (pickle)

    @abc.abstractmethod
    def accepts(self, model: Any) -> bool: ...

    @abc.abstractmethod
    def save(self, model: Any, folder: Path) -> list[str]:
        """Write the model into `folder`; return the types a load may construct."""

    @abc.abstractmethod
    def load(self, folder: Path, trusted_types: Sequence[str]) -> Any: ...

    def risky_types(self, trusted_types: Sequence[str]) -> list[str]:
        """The recorded types whose loading could run code: all of them for a pickle flavor."""
        return list(trusted_types) if self.needs_trust else []


def all_flavors() -> list[Flavor]:
    """In the order they are tried: specific libraries before scikit-learn (XGBoost and
    LightGBM estimators are scikit-learn estimators too), pickle last."""
    from loopml.registry.flavors.huggingface import TransformersFlavor
    from loopml.registry.flavors.keras import KerasFlavor
    from loopml.registry.flavors.native import LightGBMFlavor, OnnxFlavor, XGBoostFlavor
    from loopml.registry.flavors.python import PythonFlavor
    from loopml.registry.flavors.pytorch import TorchFlavor
    from loopml.registry.flavors.sklearn import SklearnFlavor

    # transformers models, and Keras models on the torch backend, are torch modules too:
    # their flavors come first
    return [XGBoostFlavor(), LightGBMFlavor(), OnnxFlavor(), TransformersFlavor(), KerasFlavor(),
            TorchFlavor(), SklearnFlavor(), PythonFlavor()]  # fmt: skip


def flavor_named(name: str) -> Flavor:
    for flavor in all_flavors():
        if flavor.name == name:
            return flavor
    raise InvalidArgumentError(f"unknown flavor {name!r}")


def flavor_for(model: Any, *, trust: bool = False) -> Flavor:
    for flavor in all_flavors():
        if flavor.accepts(model):
            if flavor.needs_trust and not trust:
                break
            return flavor
    known = ", ".join(f.name for f in all_flavors() if not f.needs_trust)
    raise InvalidArgumentError(
        f"no safe flavor for {type(model).__module__}.{type(model).__qualname__} (known: "
        f"{known}); to store any object with a predict() method via cloudpickle, register "
        "it with trust=True (loading it will need trust too)"
    )
