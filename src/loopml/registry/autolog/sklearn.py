"""scikit-learn: every estimator's fit (fit_transform, fit_predict) logs its parameters,
metrics on the training data, the model with its signature and input example, and a
confusion matrix (classifiers) or residual plot (regressors).

A search (GridSearchCV, RandomizedSearchCV, ...) also logs its best parameters as
`best_<param>`, `best_cv_score`, and `cv_results` (a table); the model it logs is the refit
best estimator. The estimators it fits inside, like a Pipeline's steps, log nothing.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from loopml.registry.autolog import patching, records

log = logging.getLogger("loopml.autolog")
METHODS = ("fit", "fit_transform", "fit_predict")
MAX_CLASSES_DRAWN = 30


def patch_all(settings: Mapping[str, bool]) -> None:
    from sklearn.utils import all_estimators

    after = _after(settings)
    for _, cls in all_estimators():
        for method in METHODS:
            owner = next((c for c in cls.__mro__ if method in c.__dict__), None)
            # GridSearchCV's fit is BaseSearchCV's, a transformer's fit_transform the mixin's
            if owner is not None and owner.__module__.startswith("sklearn."):
                _patch_method(owner, method, after)


def _patch_method(owner: type, method: str, after: patching.After) -> None:
    current = owner.__dict__[method]
    if inspect.isfunction(current):
        patching.patch(owner, method, after)
    elif inspect.isfunction(getattr(current, "fn", None)):
        # available_if (Pipeline.fit_transform): patch the function it hands out, so the
        # method stays absent where scikit-learn says it is
        patching.patch(current, "fn", after)


def _after(settings: Mapping[str, bool]) -> patching.After:
    def log_fit(run: Any, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any,
                state: Any) -> None:  # fmt: skip
        estimator, x, y = fit_arguments(args, kwargs)
        log_estimator(run, estimator, x, y, settings)

    return log_fit


def fit_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(estimator, X, y) of a call `fit(self, X, y=None, ...)`."""
    estimator = args[0]
    x = args[1] if len(args) > 1 else kwargs.get("X")
    y = args[2] if len(args) > 2 else kwargs.get("y")
    return estimator, x, y


def log_estimator(run: Any, estimator: Any, x: Any, y: Any, settings: Mapping[str, bool]) -> None:
    """Everything autolog records for a fitted scikit-learn-style estimator."""
    patching.quietly(log_params, run, estimator)
    patching.quietly(log_search, run, estimator)
    if y is not None and hasattr(estimator, "predict"):
        patching.quietly(log_training_metrics, run, estimator, x, y)
        if settings.get("log_figures", True):
            patching.quietly(log_figure, run, estimator, x, y)
    if settings.get("log_models", True):
        model = getattr(estimator, "best_estimator_", estimator)
        patching.quietly(log_fitted_model, run, model, x)


def log_params(run: Any, estimator: Any) -> None:
    params = {key: value for key, value in estimator.get_params(deep=True).items()
              if not _holds_estimators(value)}  # fmt: skip
    records.log_params(run, params)


def _holds_estimators(value: Any) -> bool:
    """An estimator, or a list of (name, estimator) steps: their params are listed anyway."""
    if hasattr(value, "get_params"):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_estimators(item) for item in value)
    return False


def log_search(run: Any, estimator: Any) -> None:
    best = getattr(estimator, "best_params_", None)
    if best is None:
        return
    records.log_params(run, {f"best_{key}": value for key, value in best.items()})
    if getattr(estimator, "best_score_", None) is not None:
        run.log_metric("best_cv_score", float(estimator.best_score_))
    results = getattr(estimator, "cv_results_", None)
    if results:
        import pandas as pd

        table = pd.DataFrame({key: [str(v) for v in values] if key.startswith("param")
                              else values for key, values in results.items()})  # fmt: skip
        run.log_artifact("cv_results", table)


def _task(estimator: Any) -> str | None:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classifier"
    return "regressor" if is_regressor(estimator) else None


def log_training_metrics(run: Any, estimator: Any, x: Any, y: Any) -> None:
    task = _task(estimator)
    if task is None:
        return
    predicted = estimator.predict(x)
    values = (_classifier_metrics(estimator, x, y, predicted) if task == "classifier"
              else _regressor_metrics(y, predicted))  # fmt: skip
    score = patching.quietly(estimator.score, x, y)
    if score is not None:
        values["score"] = float(score)
    run.log_metrics({f"training_{key}": value for key, value in values.items()})


def _classifier_metrics(estimator: Any, x: Any, y: Any, predicted: Any) -> dict[str, float]:
    from sklearn import metrics

    values = {
        "accuracy": metrics.accuracy_score(y, predicted),
        "precision": metrics.precision_score(y, predicted, average="weighted", zero_division=0),
        "recall": metrics.recall_score(y, predicted, average="weighted", zero_division=0),
        "f1": metrics.f1_score(y, predicted, average="weighted", zero_division=0),
    }
    if hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(x)
        classes = estimator.classes_
        values["log_loss"] = metrics.log_loss(y, proba, labels=classes)
        if len(classes) == 2:
            values["roc_auc"] = metrics.roc_auc_score(y, proba[:, 1])
        elif len(np.unique(y)) == len(classes):
            values["roc_auc"] = metrics.roc_auc_score(
                y, proba, multi_class="ovr", average="weighted", labels=classes
            )
    return {key: float(value) for key, value in values.items()}


def _regressor_metrics(y: Any, predicted: Any) -> dict[str, float]:
    from sklearn import metrics

    mse = float(metrics.mean_squared_error(y, predicted))
    return {"mse": mse, "rmse": mse**0.5, "mae": float(metrics.mean_absolute_error(y, predicted)),
            "r2": float(metrics.r2_score(y, predicted))}  # fmt: skip


def log_figure(run: Any, estimator: Any, x: Any, y: Any) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # the figures extra is not installed: the rest is logged
        log.debug("matplotlib is not installed: autolog draws no figure")
        return
    task = _task(estimator)
    if task == "classifier":
        labels = np.asarray(getattr(estimator, "classes_", np.unique(y)))
        if len(labels) <= MAX_CLASSES_DRAWN:
            figure = _confusion(Figure, y, estimator.predict(x), labels)
            run.log_figure(figure, "training_confusion_matrix")
    elif task == "regressor":
        run.log_figure(_residuals(Figure, y, estimator.predict(x)), "training_residuals")


def _confusion(figure_type: Any, y: Any, predicted: Any, labels: np.ndarray) -> Any:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y, predicted, labels=labels)
    figure = figure_type(figsize=(1.5 + 0.5 * len(labels), 1.2 + 0.5 * len(labels)))
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    ticks = range(len(labels))
    axes.set_xticks(ticks, [str(label) for label in labels], rotation=45)
    axes.set_yticks(ticks, [str(label) for label in labels])
    threshold = matrix.max() / 2
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, str(count), ha="center", va="center",
                  color="white" if count > threshold else "black")  # fmt: skip
    axes.set(xlabel="predicted", ylabel="true", title="confusion matrix (training data)")
    return figure


def _residuals(figure_type: Any, y: Any, predicted: Any) -> Any:
    truth = np.asarray(y, dtype=float).ravel()
    predicted = np.asarray(predicted, dtype=float).ravel()
    figure = figure_type(figsize=(5, 3.5))
    axes = figure.subplots()
    axes.scatter(predicted, truth - predicted, s=8, alpha=0.6)
    axes.axhline(0.0, color="grey", linewidth=1)
    axes.set(xlabel="predicted", ylabel="residual (true - predicted)",
             title="residuals (training data)")  # fmt: skip
    return figure


def log_fitted_model(run: Any, model: Any, x: Any) -> None:
    example = records.example_rows(x)
    raw = None if x is None or hasattr(x, "columns") else _first_rows(x)
    records.log_model(run, model, example, predict_on=raw)


def _first_rows(x: Any) -> Any:
    if hasattr(x, "tocsr"):
        return x.tocsr()[: records.EXAMPLE_ROWS]
    return np.asarray(x)[: records.EXAMPLE_ROWS]
