"""Only vetted types load from a skops file without trust: the known code-running gadgets
inside numpy, scipy and scikit-learn are refused in both positions, and never run."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import calibration, cluster, ensemble, neighbors, neural_network
from sklearn import feature_selection as fs
from sklearn import gaussian_process as gp
from sklearn import linear_model as lm
from sklearn import preprocessing as pp
from sklearn.pipeline import make_pipeline

from loopml.artifacts import objects, skops_trust
from loopml.artifacts.factory import open_artifacts
from loopml.artifacts.objects import Stored
from loopml.core.errors import InvalidArgumentError
from tests.artifacts.gadgets import GADGETS, X, Y, constructor_gadget, function_gadget, untouched

pytestmark = pytest.mark.security


@pytest.fixture
def cas(tmp_path: Path):
    return open_artifacts(str(tmp_path / "store"))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    return tmp_path / "marker", victim


@pytest.mark.parametrize("gadget", list(GADGETS))
def test_gadget_called_at_load_is_refused_and_never_runs(cas, files, gadget: str) -> None:
    module, name, arguments = GADGETS[gadget]
    data = constructor_gadget(module, name, arguments(*files))
    stored = Stored(cas.put_bytes(data), "skops", len(data))
    with pytest.raises(InvalidArgumentError, match=rf"does not vet.*{module}\.{name}"):
        objects.load(cas, stored, what="model")
    assert untouched(*files)


@pytest.mark.parametrize("gadget", list(GADGETS))
def test_gadget_as_a_transformers_function_is_refused(cas, gadget: str) -> None:
    module, name, _ = GADGETS[gadget]
    data = function_gadget(module, name)
    stored = Stored(cas.put_bytes(data), "skops", len(data))
    with pytest.raises(InvalidArgumentError, match=rf"{module}\.{name}"):
        objects.load(cas, stored, what="model")


def test_nothing_is_trusted_by_prefix() -> None:
    gadgets = [f"{module}.{name}" for module, name, _ in GADGETS.values()]
    assert skops_trust.untrusted(gadgets) == sorted(gadgets)
    assert skops_trust.untrusted(["numpy.log1p", "sklearn.anything.Else", "scipy.x"]) == [
        "numpy.log1p", "scipy.x", "sklearn.anything.Else",
    ]  # fmt: skip


def test_wrappers_of_user_functions_need_trust() -> None:
    wrapped = "sklearn.metrics._dist_metrics.PyFuncDistance64"
    assert skops_trust.untrusted([wrapped, "sklearn.tree._tree.Tree"]) == [wrapped]


def _fitted(model: Any, x: Any = X, y: Any = Y) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(x, y)


# Models whose fitted state holds types beyond skops' defaults: each loads without trust.
COMMON = {
    "select-k-best": lambda: _fitted(make_pipeline(fs.SelectKBest(k=2), lm.LogisticRegression())),
    "chi2": lambda: _fitted(fs.SelectKBest(fs.chi2, k=2)),
    "mutual-info": lambda: _fitted(fs.SelectKBest(fs.mutual_info_classif, k=2)),
    "gradient-boosting": lambda: _fitted(ensemble.GradientBoostingClassifier(n_estimators=3)),
    "hist-gradient-boosting": lambda: _fitted(ensemble.HistGradientBoostingClassifier(max_iter=3)),
    "ball-tree": lambda: _fitted(neighbors.KNeighborsClassifier(algorithm="ball_tree")),
    "kd-tree": lambda: _fitted(neighbors.KNeighborsClassifier(algorithm="kd_tree")),
    "mlp-sgd": lambda: _fitted(neural_network.MLPClassifier(solver="sgd", max_iter=3)),
    "mlp-adam": lambda: _fitted(neural_network.MLPClassifier(max_iter=3)),
    "isotonic-calibration": lambda: _fitted(calibration.CalibratedClassifierCV(method="isotonic")),
    "gaussian-process": lambda: _fitted(
        gp.GaussianProcessRegressor(gp.kernels.RBF() + gp.kernels.WhiteKernel()), y=Y * 1.0
    ),
    "spline": lambda: _fitted(pp.SplineTransformer()),
    "agglomeration": lambda: _fitted(cluster.FeatureAgglomeration(n_clusters=2)),
    "bisecting-kmeans": lambda: _fitted(cluster.BisectingKMeans(n_clusters=2, random_state=0)),
    "stacking": lambda: _fitted(ensemble.StackingClassifier(
        [("a", lm.LogisticRegression()), ("b", ensemble.RandomForestClassifier(3))]
    )),
    "log1p-ufunc": lambda: _fitted(make_pipeline(pp.FunctionTransformer(np.log1p),
                                                 lm.LogisticRegression())),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(COMMON))
def test_common_models_load_without_trust(cas, kind: str) -> None:
    model = COMMON[kind]()
    back = objects.load(cas, objects.store_value(cas, model), what="model")
    method = "predict" if hasattr(model, "predict") else "transform"
    np.testing.assert_allclose(getattr(back, method)(X), getattr(model, method)(X))
