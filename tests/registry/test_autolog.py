"""loopml.autolog(): real scikit-learn, XGBoost and LightGBM fits on small generated data log
params, metrics, the model (registrable as it was logged) and a figure; nested fits log
nothing of their own; disabling undoes the patches; a logging failure never breaks a fit."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml
from loopml.core.entities import RunStatus
from loopml.core.errors import InvalidArgumentError
from loopml.registry.autolog import patching
from loopml.workspace import Workspace

pytest.importorskip("matplotlib", reason="the figures extra is not installed")


@pytest.fixture(autouse=True)
def _autolog(workspace: Workspace) -> Iterator[None]:
    loopml.autolog()
    yield
    loopml.autolog(disable=True)


def _classification() -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_classification(n_samples=160, n_features=5, random_state=0)
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(5)]), y


def _regression() -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_regression(n_samples=160, n_features=4, noise=5.0, random_state=0)
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(4)]), y


def _artifacts(workspace: Workspace, run_id: str) -> set[str]:
    return {a.name for a in workspace.store.runs.artifacts(run_id)}


def _runs() -> list:
    return list(loopml.search_runs())


def _round_trip(name: str, run_id: str, model: object, x: pd.DataFrame) -> None:
    version = loopml.registry.register(name, run=run_id)
    assert version.run_id == run_id and version.signature is not None
    assert version.signature.columns == list(x.columns)
    loaded = loopml.registry.load(name)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)


def test_a_pipeline_in_a_run_logs_everything_once(workspace: Workspace) -> None:
    x, y = _classification()
    with loopml.start_run(project="p") as run:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5)).fit(x, y)
    got = loopml.get_run(run.id)
    assert got.params["logisticregression__C"] == "0.5"
    assert got.params["standardscaler__with_mean"] == "True"
    assert "steps" not in got.params  # the steps' own params are listed instead
    for key in ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc", "score"):
        assert f"training_{key}" in got.metrics, key
    assert got.metrics["training_accuracy"] == pytest.approx(model.score(x, y))
    assert {"model", "model.json", "model.input_example",
            "training_confusion_matrix.png"} <= _artifacts(workspace, run.id)  # fmt: skip
    png = loopml.load_artifact(run.id, "training_confusion_matrix.png")
    assert png.startswith(b"\x89PNG")
    example = loopml.load_artifact(run.id, "model.input_example")
    assert list(example.columns) == list(x.columns) and len(example) == 5
    assert [r.id for r in _runs()] == [run.id]  # the scaler and the classifier made no runs
    _round_trip("clf", run.id, model, x)


def test_a_pipeline_fit_transform_is_one_run_and_keeps_availability(
    workspace: Workspace,
) -> None:
    from sklearn.decomposition import PCA

    x, _ = _classification()
    pipeline = make_pipeline(StandardScaler(), PCA(n_components=2))
    assert pipeline.fit_transform(x).shape == (len(x), 2)
    [run] = _runs()
    assert run.params["pca__n_components"] == "2"
    assert not hasattr(make_pipeline(LogisticRegression()), "fit_transform")  # as unpatched


def test_a_fit_without_a_run_starts_and_ends_one(workspace: Workspace) -> None:
    x, y = _regression()
    model = Ridge(alpha=2.0).fit(x, y)
    [run] = _runs()
    assert run.status is RunStatus.FINISHED and run.tags["loopml.autolog"] == "true"
    assert run.name == "Ridge"
    assert run.params["alpha"] == "2.0"
    assert {"training_mse", "training_rmse", "training_mae", "training_r2"} <= set(run.metrics)
    assert run.metrics["training_r2"] == pytest.approx(model.score(x, y))
    assert "training_residuals.png" in _artifacts(workspace, run.id)
    assert loopml.current_run() is None
    _round_trip("reg", run.id, model, x)


def test_a_grid_search_logs_its_best_and_no_candidates(workspace: Workspace) -> None:
    x, y = _classification()
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, cv=3)
    with loopml.start_run(project="p") as run:
        search.fit(x, y)
    got = loopml.get_run(run.id)
    assert got.params["best_C"] == str(search.best_params_["C"])
    assert got.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert len(loopml.load_artifact(run.id, "cv_results")) == 3
    info = json.loads(loopml.load_artifact(run.id, "model.json"))
    assert info["class"].endswith("LogisticRegression")  # the refit best estimator
    assert len(_runs()) == 1  # 9 candidate fits and the refit: no runs of their own
    _round_trip("search", run.id, search, x)


def test_xgboost_train_logs_every_iteration(workspace: Workspace) -> None:
    xgboost = pytest.importorskip("xgboost")
    x, y = _classification()
    train, valid = xgboost.DMatrix(x[:120], y[:120]), xgboost.DMatrix(x[120:], y[120:])
    with loopml.start_run(project="p") as run:
        booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, train,
                                num_boost_round=6, evals=[(train, "train"), (valid, "valid")],
                                verbose_eval=False)  # fmt: skip
    got = loopml.get_run(run.id)
    assert got.params["max_depth"] == "2" and got.params["num_boost_round"] == "6"
    for key in ("train-logloss", "valid-logloss"):
        assert [m.step for m in loopml.get_metric_history(run.id, key)] == list(range(6))
    assert len(_runs()) == 1
    version = loopml.registry.register("booster", run=run)
    assert version.flavor == "xgboost"
    predicted = loopml.registry.load("booster").predict(x[120:])
    np.testing.assert_allclose(predicted, booster.predict(valid), rtol=1e-6)


def test_xgboost_estimators_log_like_scikit_learn_plus_curves(workspace: Workspace) -> None:
    xgboost = pytest.importorskip("xgboost")
    x, y = _classification()
    with loopml.start_run(project="p") as run:
        model = xgboost.XGBClassifier(n_estimators=5, max_depth=2)
        model.fit(x, y, eval_set=[(x, y)], verbose=False)
    got = loopml.get_run(run.id)
    assert got.params["n_estimators"] == "5" and "training_accuracy" in got.metrics
    assert len(loopml.get_metric_history(run.id, "validation_0-logloss")) == 5
    assert "training_confusion_matrix.png" in _artifacts(workspace, run.id)
    assert len(_runs()) == 1  # the inner xgboost.train logged nothing more
    _round_trip("xgb", run.id, model, x)


def test_lightgbm_train_and_estimators(workspace: Workspace) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    x, y = _regression()
    params = {"objective": "regression", "num_leaves": 4, "verbose": -1}
    with loopml.start_run(project="p") as trained:
        data = lightgbm.Dataset(x[:120], y[:120])
        valid = lightgbm.Dataset(x[120:], y[120:], reference=data)
        booster = lightgbm.train(params, data, num_boost_round=4, valid_sets=[valid])
    assert [m.step for m in loopml.get_metric_history(trained.id, "valid_0-l2")] == [0, 1, 2, 3]
    assert loopml.get_run(trained.id).params["num_leaves"] == "4"
    version = loopml.registry.register("lgb-booster", run=trained)
    assert version.signature.columns == list(x.columns)
    np.testing.assert_allclose(loopml.registry.load("lgb-booster").predict(x), booster.predict(x))

    with loopml.start_run(project="p") as fitted:
        model = lightgbm.LGBMRegressor(n_estimators=4, num_leaves=4, verbose=-1)
        model.fit(x, y, eval_set=[(x[120:], y[120:])])
    got = loopml.get_run(fitted.id)
    assert "training_r2" in got.metrics
    assert len(loopml.get_metric_history(fitted.id, "valid_0-l2")) == 4
    assert "training_residuals.png" in _artifacts(workspace, fitted.id)
    _round_trip("lgb", fitted.id, model, x)


def test_disable_undoes_the_patches_and_enabling_twice_patches_once(workspace: Workspace) -> None:
    count = patching.patched_count()
    assert count > 0 and getattr(LogisticRegression.fit, patching.MARK, False)
    loopml.autolog()
    assert patching.patched_count() == count
    x, y = _classification()
    LogisticRegression().fit(x, y)
    assert len(_runs()) == 1  # patched twice would still log once
    loopml.autolog(disable=True)
    assert patching.patched_count() == 0
    assert not getattr(LogisticRegression.fit, patching.MARK, False)
    LogisticRegression().fit(x, y)
    assert len(_runs()) == 1


def test_a_failing_log_step_warns_and_the_fit_still_returns(
    workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    x, y = _classification()
    with loopml.start_run(project="p") as run:
        run.log_param("C", "already set")  # params are write-once: autolog's C conflicts
        with caplog.at_level(logging.WARNING, logger="loopml.autolog"):
            model = LogisticRegression(C=3.0).fit(x, y)
    assert hasattr(model, "coef_")
    assert any("could not log_params" in r.getMessage() for r in caplog.records)
    got = loopml.get_run(run.id)
    assert got.params["C"] == "already set" and "training_accuracy" in got.metrics


def test_a_failing_fit_raises_as_usual_and_its_run_fails(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(np.array([[np.nan], [1.0]]), [0, 1])
    [run] = _runs()
    assert run.status is RunStatus.FAILED and "NaN" in run.error


def test_registering_a_run_without_a_model_is_refused(workspace: Workspace) -> None:
    with loopml.start_run(project="p") as run:
        pass
    with pytest.raises(InvalidArgumentError, match="logged no model"):
        loopml.registry.register("none", run=run)
    with pytest.raises(InvalidArgumentError, match="pass the model"):
        loopml.registry.register("none")
