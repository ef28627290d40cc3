"""A custom Keras layer of the user's own code, for the Keras flavor's tests."""

from __future__ import annotations

from typing import Any

from loopml.registry.flavors.keras import import_keras

keras = import_keras()


@keras.saving.register_keras_serializable(package="loopml_tests")
class Scale(keras.layers.Layer):
    def __init__(self, factor: float = 2.0, **options: Any) -> None:
        super().__init__(**options)
        self.factor = factor

    def call(self, x: Any) -> Any:
        return x * self.factor

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}
