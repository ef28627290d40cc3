"""polars DataFrames wherever pandas ones are accepted: artifacts, pipeline steps, datasets,
model input and signatures, the gate, and monitoring; each gives what the pandas frame gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.core.errors import InvalidArgumentError
from loopml.core.frames import as_pandas, is_polars

pl = pytest.importorskip("polars", reason="polars is in the dev extra")


def _data(n: int = 300, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, size=(n, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["city"] = rng.choice(["x", "y"], size=n)
    frame["y"] = (x[:, 0] + x[:, 1] > 0).astype(int)
    return frame


def test_polars_frames_are_recognised_without_importing_polars_for_others() -> None:
    frame = pl.DataFrame({"a": [1, 2]})
    assert is_polars(frame) and is_polars(frame.lazy())
    assert not is_polars(pd.DataFrame({"a": [1]})) and not is_polars([1])
    assert as_pandas(frame.lazy()).equals(pd.DataFrame({"a": [1, 2]}))


def test_a_polars_artifact_comes_back_as_polars(workspace) -> None:
    frame = pl.DataFrame({"a": [1.5, 2.5], "s": ["x", None]})
    with loopml.start_run(project="p", workspace=workspace) as run:
        run.log_artifact("table", frame)
        run.log_artifact("lazy", frame.lazy().filter(pl.col("a") > 2))
    loaded = loopml.load_artifact(run.id, "table", workspace=workspace)
    assert isinstance(loaded, pl.DataFrame) and loaded.equals(frame)
    assert loopml.load_artifact(run.id, "lazy", workspace=workspace).height == 1


def test_a_step_returning_polars_is_cached_and_reloaded(workspace) -> None:
    calls = []

    @loopml.step
    def prepare(n: int) -> pl.DataFrame:
        calls.append(n)
        return pl.DataFrame({"i": list(range(n))})

    @loopml.pipeline
    def flow(n: int = 5) -> pl.DataFrame:
        return prepare(n)

    first = flow.run(n=5, workspace=workspace)
    second = flow.run(n=5, workspace=workspace)
    assert calls == [5], "the second run is served from the cache"
    assert [s.cached for s in second.steps] == [True]
    assert first.status == second.status == "FINISHED"


def test_datasets_load_as_polars_and_validate_polars(workspace, tmp_path) -> None:
    path = tmp_path / "d.parquet"
    _data().to_parquet(path)
    loopml.datasets.add("d", path, workspace=workspace)
    frame = loopml.datasets.load("d", frame="polars", workspace=workspace)
    assert isinstance(frame, pl.DataFrame) and frame.shape == (300, 5)
    assert loopml.datasets.validate("d", frame, workspace=workspace).ok
    broken = frame.with_columns(pl.col("a").cast(pl.Utf8))
    report = loopml.datasets.validate("d", broken, workspace=workspace)
    assert not report.ok and any("a" in str(a) for a in report.anomalies)
    with pytest.raises(InvalidArgumentError, match="frame must be one of"):
        loopml.datasets.load("d", frame="spark", workspace=workspace)


def test_models_take_polars_input_like_pandas(workspace) -> None:
    data = _data()
    features = data[["a", "b", "c"]]
    model = LogisticRegression().fit(features, data["y"])
    version = loopml.registry.register("m", model, input_example=pl.from_pandas(features.head()),
                                       workspace=workspace)  # fmt: skip
    assert [c.name for c in version.signature.inputs] == ["a", "b", "c"]
    loaded = loopml.registry.load("m/1", workspace=workspace)
    polars_features = pl.from_pandas(features)
    assert (loaded.predict(polars_features) == loaded.predict(features)).all()
    assert np.allclose(loaded.predict_proba(polars_features), loaded.predict_proba(features))
    with pytest.raises(InvalidArgumentError):  # the signature is enforced on polars too
        loaded.predict(polars_features.drop("c"))
    frame = pl.from_pandas(data[["a", "b", "c", "y"]])
    decision = loopml.registry.compare("m/1", data=frame, label="y", workspace=workspace)
    same = loopml.registry.compare("m/1", data=data[["a", "b", "c", "y"]], label="y",
                                   workspace=workspace)  # fmt: skip
    assert decision.candidate_metrics == same.candidate_metrics


def test_monitoring_checks_polars_frames(workspace) -> None:
    reference, moved = pl.from_pandas(_data(seed=1)), pl.from_pandas(_data(shift=1.5, seed=2))
    steady = loopml.monitoring.check(pl.from_pandas(_data(seed=3)), reference=reference,
                                     save=False, workspace=workspace)  # fmt: skip
    drifted = loopml.monitoring.check(moved, reference=reference, save=False,
                                      workspace=workspace)  # fmt: skip
    assert not steady.columns["a"].drifted and drifted.columns["a"].drifted
    as_pandas_report = loopml.monitoring.check(moved.to_pandas(), reference=reference.to_pandas(),
                                               save=False, workspace=workspace)  # fmt: skip
    assert drifted.columns["a"].statistic == pytest.approx(as_pandas_report.columns["a"].statistic)
