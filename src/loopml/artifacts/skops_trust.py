"""Which types a stored scikit-learn model may hold without the user trusting it.

skops itself trusts scikit-learn's public estimators, builtin containers, numpy arrays,
random generators and ufuncs. Fitted models also hold a few internal data classes (trees,
losses, kernels, distance metrics) and, as default parameters, a few numeric functions: those
are named here one by one, never by prefix. A prefix such as "numpy." or "sklearn." would
trust code runners: `numpy.testing._private.utils.runstring` calls exec, and numpy, scipy
and scikit-learn modules re-export `subprocess.Popen` (numpy.distutils.fcompiler.gnu) and
`os.remove` (sklearn.datasets._rcv1), callable with a file's arguments at load time.

The list is decided here, in code, when a model is loaded; it is never read from the model.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Iterable

# Classes that hold a fitted model's data. Each is built by skops from arrays and numbers;
# none runs code of the file's choosing when constructed.
DATA_TYPES = frozenset({
    "numpy.dtype",
    "scipy.interpolate._bsplines.BSpline",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.cluster._bisect_k_means._BisectingTree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._ball_tree.BallTree32",
    "sklearn.neighbors._ball_tree.BallTree64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._kd_tree.KDTree32",
    "sklearn.neighbors._kd_tree.KDTree64",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
})  # fmt: skip

# Families of data classes: those defined in `module` that derive from `module.base`.
FAMILIES = (
    ("sklearn._loss.loss", "BaseLoss"),
    ("sklearn.gaussian_process.kernels", "Kernel"),
    ("sklearn.metrics._dist_metrics", "DistanceMetric"),
)

# Wrappers of a user's Python function (metric=callable): trusted only with the user's say.
NEVER = frozenset({
    "sklearn.metrics._dist_metrics.PyFuncDistance32",
    "sklearn.metrics._dist_metrics.PyFuncDistance64",
})  # fmt: skip

# Functions that scikit-learn's own estimators hold by default (score_func, pooling_func,
# the k-means step, BSpline's array conversion): each a pure function of arrays. Any other
# callable (a user's function, a method, a helper re-exported from os) needs trust.
DEFAULT_FUNCTIONS = frozenset({
    "numpy.mean",
    "scipy._lib.array_api_compat.numpy._aliases.asarray",
    "sklearn.cluster._kmeans._kmeans_single_elkan",
    "sklearn.cluster._kmeans._kmeans_single_lloyd",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
    "sklearn.feature_selection._univariate_selection.chi2",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.feature_selection._univariate_selection.r_regression",
})  # fmt: skip


def untrusted(types: Iterable[str]) -> list[str]:
    """The types in `types` (as skops names them) that loopml does not vet."""
    allowed = allowed_types()
    return sorted(t for t in types if t not in allowed)


@functools.cache
def allowed_types() -> frozenset[str]:
    return (DATA_TYPES | DEFAULT_FUNCTIONS | frozenset(_family_members())) - NEVER


def _family_members() -> Iterable[str]:
    for module_name, base_name in FAMILIES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # another scikit-learn version: trust less, never more
            continue
        base = getattr(module, base_name, None)
        for member in vars(module).values():
            if (
                inspect.isclass(member)
                and member.__module__ == module_name
                and base is not None
                and issubclass(member, base)
            ):
                yield f"{module_name}.{member.__name__}"
