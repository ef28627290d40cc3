"""A model version planted by someone who can write records and blobs (an editor token) with
a code-running gadget and a trust list naming it: the default load refuses it, in both of the
gadget's positions, and the gadget never runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import loopml
from loopml.core.errors import InvalidArgumentError
from loopml.registry.flavors.sklearn import FILE
from tests.artifacts.gadgets import GADGETS, X, Y, constructor_gadget, function_gadget, untouched

pytestmark = pytest.mark.security


def _plant(workspace, tmp_path: Path, data: bytes, trusted: list[str]) -> str:
    folder = tmp_path / "planted"
    folder.mkdir()
    (folder / FILE).write_bytes(data)
    from loopml.artifacts import objects

    stored = objects.store(workspace.artifacts, folder)
    version = workspace.store.models.create_version(
        "planted", flavor="sklearn", digest=stored.digest, size=stored.size,
        trusted_types=trusted,
    )  # fmt: skip
    return version.uri


@pytest.mark.parametrize("gadget", list(GADGETS))
def test_planted_gadget_called_at_load_is_refused(workspace, tmp_path: Path, gadget) -> None:
    module, name, arguments = GADGETS[gadget]
    marker, victim = tmp_path / "marker", tmp_path / "victim"
    victim.write_text("keep me")
    data = constructor_gadget(module, name, arguments(marker, victim))
    uri = _plant(workspace, tmp_path, data, [f"{module}.{name}"])
    with pytest.raises(InvalidArgumentError, match=rf"can run arbitrary code.*{module}\.{name}"):
        loopml.registry.load(uri, workspace=workspace)
    assert untouched(marker, victim)


@pytest.mark.parametrize("gadget", list(GADGETS))
def test_planted_gadget_as_a_function_is_refused(workspace, tmp_path: Path, gadget) -> None:
    module, name, _ = GADGETS[gadget]
    uri = _plant(workspace, tmp_path, function_gadget(module, name), [f"{module}.{name}"])
    with pytest.raises(InvalidArgumentError, match="trust=True"):
        loopml.registry.load(uri, workspace=workspace)


def test_a_function_of_numpys_needs_trust_to_register(workspace) -> None:
    from numpy.testing._private.utils import runstring

    model = make_pipeline(FunctionTransformer(runstring), LogisticRegression().fit(X, Y))
    with pytest.raises(InvalidArgumentError, match=r"does not vet.*runstring.*trust=True"):
        loopml.registry.register("m", model, workspace=workspace)


def test_user_function_registers_and_loads_with_trust(workspace) -> None:
    model = make_pipeline(FunctionTransformer(_double), LogisticRegression()).fit(X, Y)
    with pytest.raises(InvalidArgumentError, match="_double"):
        loopml.registry.register("m", model, workspace=workspace)
    loopml.registry.register("m", model, trust=True, workspace=workspace)
    with pytest.raises(InvalidArgumentError, match="trust=True"):
        loopml.registry.load("m/1", workspace=workspace)
    loaded = loopml.registry.load("m/1", trust=True, workspace=workspace)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def _double(values):
    return values * 2
