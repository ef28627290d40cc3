"""XGBoost and LightGBM: their `train` functions and their scikit-learn estimators' fit.

`xgboost.train` and `lightgbm.train` log their params, every evaluation metric of every
iteration as metric steps (`<data>-<metric>`, e.g. `valid-logloss`), and the booster.
`XGBModel.fit` and `LGBMModel.fit` log like any scikit-learn estimator (params, training
metrics, model, figure) plus the per-iteration results of their `eval_set`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopml.registry.autolog import patching, records, sklearn


def patch_xgboost(settings: Mapping[str, bool]) -> None:
    import xgboost

    patching.patch(xgboost, "train", _after_train(settings, _xgboost_evals), _prepare_xgboost)
    for cls in _subclasses(xgboost.XGBModel):
        if "fit" in cls.__dict__:
            patching.patch(cls, "fit", _after_fit(settings, _xgboost_fit_evals))


def patch_lightgbm(settings: Mapping[str, bool]) -> None:
    import lightgbm

    patching.patch(lightgbm, "train", _after_train(settings, _lightgbm_evals), _prepare_lightgbm)
    for cls in _subclasses(lightgbm.LGBMModel):
        if "fit" in cls.__dict__:
            patching.patch(cls, "fit", _after_fit(settings, _lightgbm_fit_evals))


def _subclasses(base: type) -> list[type]:
    found, pending = [base], [base]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                pending.append(sub)
    return found


# -- train(params, data, num_boost_round, ...) ---------------------------------------------
def _prepare_xgboost(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Ask train for its evaluation history (unless the caller did) and keep example rows."""
    kwargs = dict(kwargs)
    evals = kwargs.get("evals_result")
    if evals is None:
        evals = kwargs["evals_result"] = {}
    data = args[1] if len(args) > 1 else kwargs.get("dtrain")
    example = patching.quietly(_xgboost_example, data)
    return args, kwargs, {"evals": evals, "example": example}


def _xgboost_example(data: Any) -> Any:
    frame = records.example_rows(data.get_data())
    if frame is not None and data.feature_names:
        frame.columns = list(data.feature_names)
    return frame


def _prepare_lightgbm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    import lightgbm

    kwargs = dict(kwargs)
    evals: dict[str, Any] = {}
    kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), lightgbm.record_evaluation(evals)]
    data = args[1] if len(args) > 1 else kwargs.get("train_set")
    example = patching.quietly(records.example_rows, getattr(data, "data", None))
    return args, kwargs, {"evals": evals, "example": example}


def _xgboost_evals(state: Mapping[str, Any]) -> Mapping[str, Any]:
    return state["evals"]


_lightgbm_evals = _xgboost_evals


def _after_train(settings: Mapping[str, bool], evals_of: Any) -> patching.After:
    def log_train(run: Any, args: tuple[Any, ...], kwargs: dict[str, Any], booster: Any,
                  state: Any) -> None:  # fmt: skip
        params = dict(args[0] if args else kwargs.get("params") or {})
        rounds = args[2] if len(args) > 2 else kwargs.get("num_boost_round")
        if rounds is not None:
            params["num_boost_round"] = rounds
        patching.quietly(records.log_params, run, params)
        if state is not None:
            patching.quietly(records.log_curves, run, evals_of(state))
        if settings.get("log_models", True):
            example = None if state is None else state["example"]
            patching.quietly(records.log_model, run, booster, example)

    return log_train


# -- XGBModel.fit / LGBMModel.fit ------------------------------------------------------------
def _xgboost_fit_evals(model: Any) -> Mapping[str, Any]:
    try:
        return model.evals_result()
    except Exception:  # no eval_set given: nothing was recorded
        return {}


def _lightgbm_fit_evals(model: Any) -> Mapping[str, Any]:
    return getattr(model, "evals_result_", None) or {}


def _after_fit(settings: Mapping[str, bool], evals_of: Any) -> patching.After:
    def log_fit(run: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                state: Any) -> None:  # fmt: skip
        model, x, y = sklearn.fit_arguments(args, kwargs)
        sklearn.log_estimator(run, model, x, y, settings)
        patching.quietly(records.log_curves, run, evals_of(model))

    return log_fit
