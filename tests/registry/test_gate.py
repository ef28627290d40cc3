"""The gate: candidate against baseline on the same data, decided by a policy."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import loopml
from loopml.core.errors import InvalidArgumentError
from loopml.registry.gate import GatePolicy, decide
from loopml.workspace import Workspace


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    return frame


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame


@pytest.fixture
def classifiers(workspace: Workspace, iris: pd.DataFrame) -> Workspace:
    """clf/1 a logistic regression (~0.97 accuracy), clf/2 a one-split tree (~0.67)."""
    x, y = iris.drop(columns=["target"]), iris["target"]
    for model in (LogisticRegression(max_iter=500), DecisionTreeClassifier(max_depth=1)):
        loopml.registry.register("clf", model.fit(x, y), input_example=x.head(),
                                 workspace=workspace)  # fmt: skip
    return workspace


@pytest.fixture
def regressors(workspace: Workspace, diabetes: pd.DataFrame) -> Workspace:
    """reg/1 a linear regression, reg/2 the mean (a far larger squared error)."""
    x, y = diabetes.drop(columns=["target"]), diabetes["target"]
    for model in (LinearRegression(), DummyRegressor()):
        loopml.registry.register("reg", model.fit(x, y), workspace=workspace)
    return workspace


def gate(workspace: Workspace, candidate: str, baseline: str | None, data: object, **kw):
    label = kw.pop("label", "target")
    return loopml.registry.compare(candidate, baseline, data=data, label=label,
                                   workspace=workspace, **kw)  # fmt: skip


def test_candidate_must_beat_the_baseline_by_the_margin(classifiers, iris) -> None:
    better = gate(classifiers, "clf/1", "clf/2", iris, policy={"must_beat_by": 0.1})
    assert better.passed and better.reasons == () and better.metric == "accuracy"
    margin = better.candidate_metrics["accuracy"] - better.baseline_metrics["accuracy"]
    assert better.delta == pytest.approx(margin) and margin > 0.1
    too_little = gate(classifiers, "clf/1", "clf/2", iris, policy={"must_beat_by": 0.5})
    assert not too_little.passed
    (reason,) = too_little.reasons
    assert "must be higher by at least 0.5" in reason
    worse = gate(classifiers, "clf/2", "clf/1", iris)
    assert not worse.passed and worse.delta == pytest.approx(-margin)


def test_a_tie_passes_only_without_a_margin() -> None:
    tie = {"accuracy": 0.9}
    assert decide("m/2", tie, "m/1", tie, GatePolicy()).passed
    assert not decide("m/2", tie, "m/1", tie, GatePolicy(must_beat_by=0.01)).passed


def test_floors_and_ceilings(classifiers, iris) -> None:
    policy = {"min": {"accuracy": 0.9}, "max": {"log_loss": 1.0}}
    good = gate(classifiers, "clf/1", None, iris, policy=policy)
    assert good.passed and set(good.candidate_metrics) == {"accuracy", "log_loss"}
    weak = gate(classifiers, "clf/2", None, iris, policy=policy)
    assert not weak.passed
    assert any("accuracy" in r and "below the floor 0.9" in r for r in weak.reasons)
    strict = gate(classifiers, "clf/1", "clf/2", iris, policy={"max": {"log_loss": 0.001}})
    (reason,) = strict.reasons  # it beats the baseline, but not the ceiling
    assert "log_loss" in reason and "above the ceiling 0.001" in reason


def test_every_failed_rule_is_a_reason(classifiers, iris) -> None:
    policy = {"min": {"f1": 0.99}, "max": {"log_loss": 0.001}}
    decision = gate(classifiers, "clf/2", "clf/1", iris, policy=policy)
    assert len(decision.reasons) == 3  # the floor, the ceiling and the comparison


@pytest.mark.parametrize("metric", ["mse", "rmse", "mae"])
def test_lower_is_better_for_errors(regressors, diabetes, metric: str) -> None:
    linear = gate(regressors, "reg/1", "reg/2", diabetes, policy={"metric": metric})
    assert linear.passed and linear.delta < 0
    mean = gate(regressors, "reg/2", "reg/1", diabetes, policy={"metric": metric})
    assert not mean.passed and mean.delta > 0
    assert "must be lower by at least" in mean.reasons[0]


def test_lower_is_better_for_log_loss(classifiers, iris) -> None:
    decision = gate(classifiers, "clf/1", "clf/2", iris, policy={"metric": "log_loss"})
    assert decision.passed and decision.delta < 0
    assert not gate(classifiers, "clf/2", "clf/1", iris, policy={"metric": "log_loss"}).passed


def test_lower_is_better_can_be_overridden() -> None:
    assert GatePolicy(metric="r2").lower is False
    assert GatePolicy(metric="mse").lower is True
    flipped = GatePolicy(metric="mse", lower_is_better=False)
    assert decide("m/2", {"mse": 2.0}, "m/1", {"mse": 1.0}, flipped).passed
    assert not decide("m/2", {"mse": 2.0}, "m/1", {"mse": 1.0}, GatePolicy(metric="mse")).passed


def test_without_a_baseline_only_the_floors_apply(classifiers, iris) -> None:
    first = gate(classifiers, "clf/2", None, iris, policy={"must_beat_by": 0.5})
    assert first.passed and first.delta is None
    assert first.baseline is None and first.baseline_metrics is None
    floored = gate(classifiers, "clf/2", None, iris, policy={"min": {"accuracy": 0.9}})
    (reason,) = floored.reasons
    assert "below the floor" in reason


def test_extra_metrics_are_reported_but_do_not_decide(classifiers, iris) -> None:
    decision = gate(classifiers, "clf/1", "clf/2", iris, metrics=["f1", "roc_auc", "recall"])
    assert list(decision.candidate_metrics) == ["accuracy", "f1", "roc_auc", "recall"]
    assert set(decision.baseline_metrics) == set(decision.candidate_metrics)
    assert 0.9 < decision.candidate_metrics["roc_auc"] <= 1.0


def test_aliases_resolve_and_the_candidate_is_named_by_its_version(classifiers, iris) -> None:
    loopml.registry.set_alias("clf", "champion", 2, workspace=classifiers)
    decision = gate(classifiers, "clf@latest", "clf@champion", iris)
    assert decision.candidate == "clf/2" and decision.delta == 0 and decision.passed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy": {"metric": "speed"}}, "unknown metric 'speed'"),
        ({"metrics": ["accuracy", "speed"]}, "unknown metric 'speed'"),
        ({"policy": {"min": {"speed": 1.0}}}, "unknown metric 'speed'"),
        ({"policy": {"must_beat": 0.1}}, "unknown gate policy keys: must_beat"),
        ({"label": "species"}, "no label column 'species'"),
    ],
)
def test_bad_policies_and_data_are_refused(classifiers, iris, kwargs, message) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        gate(classifiers, "clf/1", "clf/2", iris, **kwargs)


def test_data_must_be_a_frame_or_a_path(classifiers, iris, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="DataFrame or the path"):
        gate(classifiers, "clf/1", "clf/2", iris.to_numpy())
    with pytest.raises(InvalidArgumentError, match="no such file"):
        gate(classifiers, "clf/1", "clf/2", tmp_path / "missing.csv")


def test_data_from_a_csv_path(classifiers, iris, tmp_path: Path) -> None:
    path = tmp_path / "holdout.csv"
    iris.to_csv(path, index=False)
    policy = {"min": {"accuracy": 0.9}}
    from_frame = gate(classifiers, "clf/1", "clf/2", iris, policy=policy, metrics=["f1"])
    for data in (path, str(path)):
        from_file = gate(classifiers, "clf/1", "clf/2", data, policy=policy, metrics=["f1"])
        assert from_file.passed
        assert from_file.candidate_metrics == pytest.approx(from_frame.candidate_metrics)
        assert from_file.baseline_metrics == pytest.approx(from_frame.baseline_metrics)
