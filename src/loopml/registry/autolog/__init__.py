"""`loopml.autolog()`: fits of scikit-learn, XGBoost and LightGBM models log themselves.

    loopml.autolog()
    with loopml.start_run(project="iris") as run:     # or no run: each fit starts its own
        model = LogisticRegression().fit(X, y)         # params, metrics, model, figure
    loopml.registry.register("iris-clf", run=run)      # the model the fit logged
    loopml.autolog(disable=True)                       # the libraries as they were

It lives in the registry layer (which imports tracking): the model is saved in its registry
flavor with a signature, so that registering it later reuses the stored files as they are.
"""

from __future__ import annotations

import importlib.util
import threading

from loopml.registry.autolog import patching

LIBRARIES = ("sklearn", "xgboost", "lightgbm")
_settings: dict[str, bool] = {}  # read by the patches at each fit; changed under the lock
_lock = threading.Lock()


def autolog(
    disable: bool = False,
    *,
    log_models: bool = True,
    log_figures: bool = True,
) -> list[str]:
    """Patch the fit functions of the installed libraries among scikit-learn, XGBoost and
    LightGBM (or, with `disable=True`, undo that). Calling it again only updates the
    settings. Returns the libraries patched (none when disabling)."""
    with _lock:
        if disable:
            patching.unpatch_all()
            return []
        _settings.update(log_models=log_models, log_figures=log_figures)
        patched = []
        for library in LIBRARIES:
            if importlib.util.find_spec(library) is not None:
                _patch(library)
                patched.append(library)
        return patched


def _patch(library: str) -> None:
    from loopml.registry.autolog import boosting, sklearn

    patch = {"sklearn": sklearn.patch_all, "xgboost": boosting.patch_xgboost,
             "lightgbm": boosting.patch_lightgbm}[library]  # fmt: skip
    patch(_settings)
