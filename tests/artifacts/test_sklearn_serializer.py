"""scikit-learn models are stored with skops and loaded only when they hold trusted types."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from loopml.artifacts import objects
from loopml.artifacts.factory import open_artifacts
from loopml.core.errors import InvalidArgumentError

X = np.random.default_rng(0).random((40, 3))
Y = np.arange(40) % 2


@pytest.fixture
def cas(tmp_path: Path):
    return open_artifacts(str(tmp_path / "store"))


@pytest.mark.parametrize(
    "model",
    [
        make_pipeline(StandardScaler(), LogisticRegression()),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ],
)
def test_models_round_trip_with_skops(cas, model) -> None:
    model.fit(X, Y)
    stored = objects.store_value(cas, model)
    assert stored.serializer == "skops"
    back = objects.load(cas, stored, what="model")
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


class Marker:
    """A type of the user's: loading it would run code loopml has not vetted."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __setstate__(self, state: dict) -> None:
        Path(state["path"]).write_text("executed")


def test_model_holding_foreign_types_is_refused_without_running_them(cas, tmp_path) -> None:
    marker = tmp_path / "marker"
    model = LogisticRegression().fit(X, Y)
    model.hook = FunctionTransformer(os.system)  # a callable that is not scikit-learn's
    model.marker = Marker(str(marker))
    stored = objects.store_value(cas, model)
    with pytest.raises(InvalidArgumentError, match=r"refusing.*(posix\.system|Marker)"):
        objects.load(cas, stored, what="model")
    assert not marker.exists()
