"""The Keras flavor (Keras 3 on the torch backend): .keras files loaded in safe mode, trust
for custom classes, planted classes and lambdas refused."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.artifacts import objects
from loopml.core.errors import InvalidArgumentError
from tests.conftest import require


@pytest.fixture(autouse=True)
def _keras() -> None:
    for module in ("torch", "keras"):
        if importlib.util.find_spec(module) is None:
            require(module, "pip install 'loopml[torch,keras]'")


def keras() -> Any:
    from loopml.registry.flavors.keras import import_keras

    return import_keras()


FRAME = pd.DataFrame(np.random.default_rng(0).normal(size=(6, 4)), columns=list("abcd"))


def _classifier(*extra: Any) -> Any:
    k = keras()
    k.utils.set_random_seed(0)
    return k.Sequential([k.Input((4,)), k.layers.Dense(8, activation="relu"), *extra,
                         k.layers.Dense(3, activation="softmax")])  # fmt: skip


def test_a_keras_classifier_round_trips_without_trust(workspace) -> None:
    net = _classifier()
    wrapped = loopml.registry.keras_model(net, task="classification", classes=["x", "y", "z"])
    version = loopml.registry.register("k", wrapped, input_example=FRAME, workspace=workspace)
    assert version.flavor == "keras" and "keras.layers:Dense" in version.trusted_types
    model = loopml.registry.load("k", workspace=workspace)
    expected = np.asarray(net.predict(FRAME.to_numpy(dtype=np.float32), verbose=0))
    np.testing.assert_allclose(model.predict_proba(FRAME), expected, rtol=1e-5)
    assert model.predict(FRAME).tolist() == [["x", "y", "z"][i] for i in expected.argmax(axis=1)]
    assert model.score(model.prepare(FRAME)).classes == ("x", "y", "z")


def test_a_custom_layer_needs_trust(workspace) -> None:
    from tests.registry.keras_layers import Scale

    net = _classifier(Scale(3.0))
    with pytest.raises(InvalidArgumentError, match=r"keras_layers:Scale.*trust=True"):
        loopml.registry.register("k", net, workspace=workspace)
    loopml.registry.register("k", net, trust=True, workspace=workspace)
    with pytest.raises(InvalidArgumentError, match=r"can run arbitrary code.*Scale"):
        loopml.registry.load("k", workspace=workspace)
    model = loopml.registry.load("k", trust=True, workspace=workspace)
    expected = np.asarray(net.predict(FRAME.to_numpy(dtype=np.float32), verbose=0))
    np.testing.assert_allclose(model.predict(FRAME), expected, rtol=1e-5)


def test_a_lambda_layer_is_refused_at_register(workspace) -> None:
    k = keras()
    net = _classifier(k.layers.Lambda(lambda x: x * 2))
    with pytest.raises(InvalidArgumentError, match="Lambda layer"):
        loopml.registry.register("k", net, trust=True, workspace=workspace)


def _plant(workspace, folder: Path, trusted: list[str]) -> str:
    stored = objects.store(workspace.artifacts, folder)
    version = workspace.store.models.create_version(
        "planted", flavor="keras", digest=stored.digest, size=stored.size, trusted_types=trusted
    )
    return version.uri


@pytest.mark.security
def test_planted_lambda_and_unrecorded_classes_are_refused(workspace, tmp_path: Path) -> None:
    """A file whose config was swapped for one with a lambda (bytecode writing a marker) or a
    class the record does not name: refused, and the bytecode never runs."""
    k = keras()
    marker = tmp_path / "marker"
    # self-contained bytecode (no closure): an unsafe load (safe_mode=False) does run it
    gadget = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('r'), x)[1]")
    net = _classifier(k.layers.Lambda(gadget))
    folder = tmp_path / "planted"
    folder.mkdir()
    net.save(str(folder / "model.keras"))
    marker.unlink(missing_ok=True)  # Keras ran the lambda once when it built the model
    (folder / "keras.json").write_text(json.dumps({"task": "raw", "classes": None,
                                                   "logits": False}))  # fmt: skip
    with zipfile.ZipFile(folder / "model.keras") as archive:
        config = json.loads(archive.read("config.json"))
    from loopml.registry.flavors.keras import _classes

    named = sorted(set(_classes(config)))
    uri = _plant(workspace, folder, named)  # a record naming every class, Lambda included
    with pytest.raises(InvalidArgumentError, match="could not be loaded"):
        loopml.registry.load(uri, trust=True, workspace=workspace)
    assert not marker.exists()
    fewer = [ref for ref in named if not ref.endswith(":Lambda")]
    uri = _plant(workspace, folder, fewer)
    with pytest.raises(InvalidArgumentError, match=r"not registered with: keras\.layers:Lambda"):
        loopml.registry.load(uri, trust=True, workspace=workspace)
    assert not marker.exists()
