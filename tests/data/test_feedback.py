"""`loopml.datasets.from_feedback` and `loopml data from-feedback`: served predictions plus
their labels as a dataset version a pipeline reads and a `new_data` trigger fires on."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import loopml
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.loops import LoopState
from loopml.core.policies import NEW_DATA, Policy, Trigger
from loopml.core.serving import Label, Prediction, RouteMode
from loopml.data import feedback
from loopml.workspace import Workspace
from tests.cli.test_cli import cli

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
META = ["prediction_id", "predicted_at", "model", "model_version", "route"]
HAS_PROBABILITIES = "probabilities" in {f.name for f in dataclasses.fields(Prediction)}


def log(
    ws: Workspace,
    n: int,
    *,
    start: int = 0,
    step: timedelta = MINUTE,
    route: RouteMode = RouteMode.PRIMARY,
    **extra: Any,
) -> list[str]:
    """`n` predictions of deployment "api", one a `step` apart from T0 + start minutes."""
    predictions = [
        Prediction(f"{start + i:032x}", "api", "clf", 1, route, T0 + (start + i) * step,
                   {"a": float(start + i), "b": "xy"[i % 2]}, (start + i) % 2, 1.5, **extra)
        for i in range(n)
    ]  # fmt: skip
    ws.store.predictions.log(predictions)
    return [p.id for p in predictions]


def label(ws: Workspace, ids: list[str]) -> None:
    """Label = 1 - the id's number mod 2: the opposite of what the model said."""
    ws.store.predictions.add_labels([Label(i, 1 - int(i, 16) % 2) for i in ids])


def test_rows_columns_ids_and_labels(workspace: Workspace) -> None:
    ids = log(workspace, 6)
    label(workspace, ids[1:5])
    made = loopml.datasets.from_feedback("api", workspace=workspace)
    assert (made.name, made.version, made.created, made.format) == ("api-feedback", 1, True,
                                                                    "parquet")  # fmt: skip
    frame = loopml.datasets.load("api-feedback", workspace=workspace)
    assert list(frame.columns) == [*META, "a", "b", "prediction", "label", "labeled_at"]
    assert list(frame["prediction_id"]) == ids[1:5]  # oldest first, unlabelled ones left out
    assert list(frame["a"]) == [1.0, 2.0, 3.0, 4.0] and list(frame["b"]) == list("yxyx")
    assert list(frame["prediction"]) == [1, 0, 1, 0] and list(frame["label"]) == [0, 1, 0, 1]
    assert list(frame["predicted_at"]) == [pd.Timestamp(T0 + i * MINUTE) for i in range(1, 5)]
    assert frame["labeled_at"].notna().all()
    assert set(frame["model"]) == {"clf"} and set(frame["model_version"]) == {1}
    assert set(frame["route"]) == {"primary"}
    row = frame.iloc[2]  # a row joins back to its prediction
    stored = workspace.store.predictions.get(row["prediction_id"])
    assert stored.label == row["label"] and stored.output == row["prediction"]
    assert stored.features["a"] == row["a"]


def test_all_keeps_unlabelled_and_leaves_shadow_out(workspace: Workspace) -> None:
    ids = log(workspace, 4)
    log(workspace, 4, start=100, route=RouteMode.SHADOW)
    label(workspace, ids[:1])
    made = loopml.datasets.from_feedback("api", "everything", labelled_only=False,
                                         workspace=workspace)  # fmt: skip
    frame = loopml.datasets.load(made.name, workspace=workspace)
    assert list(frame["prediction_id"]) == ids
    assert frame["label"].isna().sum() == 3 and frame["labeled_at"].isna().sum() == 3
    both = feedback.build(workspace, "api", "both", labelled_only=False, include_shadow=True)
    assert both.source.rows == 8


def test_since_until_window(workspace: Workspace) -> None:
    label(workspace, log(workspace, 10))
    made = loopml.datasets.from_feedback("api", since=T0 + 3 * MINUTE, until=T0 + 6 * MINUTE,
                                         workspace=workspace)  # fmt: skip
    frame = loopml.datasets.load(made.name, workspace=workspace)
    assert list(frame["a"]) == [3.0, 4.0, 5.0]  # since is inclusive, until exclusive
    naive_since = datetime(2024, 5, 1, 12, 8)  # no time zone: UTC
    naive = loopml.datasets.from_feedback("api", "naive", since=naive_since, workspace=workspace)
    assert list(loopml.datasets.load(naive.name, workspace=workspace)["a"]) == [8.0, 9.0]
    with pytest.raises(InvalidArgumentError, match="must be before until"):
        loopml.datasets.from_feedback("api", since=T0, until=T0, workspace=workspace)


def test_no_labelled_predictions_is_one_clear_error(workspace: Workspace) -> None:
    log(workspace, 3)
    with pytest.raises(NotFoundError) as caught:
        loopml.datasets.from_feedback("api", since=T0, workspace=workspace)
    message = str(caught.value)
    assert "'api'" in message and T0.isoformat() in message and "labelled" in message
    assert "\n" not in message
    with pytest.raises(NotFoundError, match="'nope'"):
        loopml.datasets.from_feedback("nope", workspace=workspace)
    assert workspace.store.datasets.list_latest() == []


def test_same_rows_make_no_new_version(workspace: Workspace) -> None:
    ids = log(workspace, 5)
    label(workspace, ids[:3])
    first = loopml.datasets.from_feedback("api", workspace=workspace)
    again = loopml.datasets.from_feedback("api", workspace=workspace)
    assert (again.version, again.digest, again.created) == (1, first.digest, False)
    label(workspace, ids[3:])
    newer = loopml.datasets.from_feedback("api", workspace=workspace)
    assert (newer.version, newer.created) == (2, True)
    source = feedback.source_of(workspace, "api-feedback", 2)
    assert source is not None
    assert (source["deployment"], source["rows"], source["since"]) == ("api", 5, None)
    events = workspace.store.audit.events(target="dataset:api-feedback")
    assert [e.details["version"] for e in events] == [2, 1]  # an unchanged add records nothing


def test_pages_return_every_prediction_once(workspace: Workspace) -> None:
    log(workspace, 5)
    log(workspace, 7, start=5, step=timedelta(0))  # seven in one millisecond: wider than a page
    log(workspace, 4, start=20)
    store = workspace.store.predictions
    pages = list(feedback._pages(store, "api", None, None, False, page=3))
    ids = [p.id for page in pages for p in page]
    assert ids == [p.id for p in store.query(deployment="api")]
    assert len(ids) == len(set(ids)) == 16


def test_odd_features_and_values(workspace: Workspace) -> None:
    predictions = [
        Prediction("p1", "api", "clf", 1, RouteMode.PRIMARY, T0, {"label": 1, "tags": [1, 2]},
                   {"score": 0.5}, 1.0),
        Prediction("p2", "api", "clf", 2, RouteMode.CANARY, T0 + MINUTE, {"extra": "e"}, "x",
                   1.0),
    ]  # fmt: skip
    workspace.store.predictions.log(predictions)
    workspace.store.predictions.add_labels([Label("p1", "cat"), Label("p2", 3)])
    made = loopml.datasets.from_feedback("api", workspace=workspace)
    frame = loopml.datasets.load(made.name, workspace=workspace)
    assert list(frame.columns) == [*META, "feature_label", "tags", "extra", "prediction",
                                   "label", "labeled_at"]  # fmt: skip
    assert frame["tags"][0] == "[1, 2]" and pd.isna(frame["tags"][1])  # nested: JSON text
    assert list(frame["prediction"]) == ['{"score": 0.5}', "x"]
    assert list(frame["label"]) == ["cat", "3"]  # mixed types as text
    assert list(frame["model_version"]) == [1, 2]
    assert list(frame["route"]) == ["primary", "canary"]


@pytest.mark.skipif(not HAS_PROBABILITIES, reason="predictions carry no probabilities yet")
def test_probabilities_become_columns(workspace: Workspace) -> None:
    label(workspace, log(workspace, 2, probabilities={"0": 0.25, "1": 0.75}))
    frame = loopml.datasets.load(loopml.datasets.from_feedback("api", workspace=workspace).name,
                                 workspace=workspace)  # fmt: skip
    assert list(frame["proba_0"]) == [0.25, 0.25] and list(frame["proba_1"]) == [0.75, 0.75]
    assert list(frame.columns).index("proba_0") == list(frame.columns).index("prediction") + 1


def test_a_new_feedback_version_fires_new_data(workspace: Workspace) -> None:
    from loopml.automation.triggers import evaluate

    policy = Policy("api", "clf", "train.py:training",
                    triggers=(Trigger(NEW_DATA, dataset="api-feedback"),))  # fmt: skip
    ids = log(workspace, 6)
    label(workspace, ids[:2])
    loopml.datasets.from_feedback("api", workspace=workspace)
    first = evaluate(workspace, policy, LoopState("api"), T0)
    assert first.fired is None  # first sight: remember v1
    state = LoopState("api", cursors=first.cursors)
    loopml.datasets.from_feedback("api", workspace=workspace)  # nothing new: no version
    assert evaluate(workspace, policy, state, T0).fired is None
    label(workspace, ids[2:])
    loopml.datasets.from_feedback("api", workspace=workspace)
    fired = evaluate(workspace, policy, state, T0).fired
    assert fired is not None and fired.reason == "new data: api-feedback v2 (was v1)"


def test_the_first_feedback_version_fires_when_the_loop_watched_first(
    workspace: Workspace,
) -> None:
    from loopml.automation.triggers import evaluate

    policy = Policy("api", "clf", "train.py:training",
                    triggers=(Trigger(NEW_DATA, dataset="api-feedback"),))  # fmt: skip
    before = evaluate(workspace, policy, LoopState("api"), T0)  # no feedback dataset yet
    assert before.fired is None
    label(workspace, log(workspace, 2))
    loopml.datasets.from_feedback("api", workspace=workspace)
    fired = evaluate(workspace, policy, LoopState("api", cursors=before.cursors), T0).fired
    assert fired is not None and fired.reason == "new data: api-feedback v1 (was v0)"


def test_a_pipeline_step_reads_it(workspace: Workspace, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    label(workspace, log(workspace, 4))
    version = loopml.datasets.from_feedback("api", workspace=workspace)
    result = accuracy_pipeline.run(workspace=workspace)
    assert result.status.value == "FINISHED"
    step = result.steps[0]
    inputs = workspace.store.runs.inputs(step.run_id)
    assert [(i.name, i.version, i.digest) for i in inputs] == [("api-feedback", "1",
                                                                version.digest)]  # fmt: skip


@loopml.step
def feedback_accuracy() -> float:
    frame = loopml.datasets.load("api-feedback")
    return float((frame["prediction"] == frame["label"]).mean())


@loopml.pipeline
def accuracy_pipeline() -> float:
    return feedback_accuracy()


def test_cli_from_feedback(workspace: Workspace, tmp_path: Path) -> None:
    ids = log(workspace, 4)
    label(workspace, ids[:2])
    made = cli("data", "from-feedback", "api", "--json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    out = json.loads(made.stdout)
    assert out["created"] is True and out["version"]["name"] == "api-feedback"
    assert out["version"]["version"] == 1 and out["source"]["rows"] == 2
    again = cli("data", "from-feedback", "api", cwd=tmp_path)
    assert again.returncode == 0 and "unchanged, still api-feedback@1" in again.stdout
    everything = cli("data", "from-feedback", "api", "--all", "--name", "all", "--since",
                     (T0 + MINUTE).isoformat(), "--until", "2024-05-01T12:03", "--json",
                     cwd=tmp_path)  # fmt: skip
    assert json.loads(everything.stdout)["source"]["rows"] == 2, everything.stderr
    frame = loopml.datasets.load("all", workspace=workspace)
    assert list(frame["prediction_id"]) == ids[1:3]


def test_cli_errors_are_one_line(workspace: Workspace, tmp_path: Path) -> None:
    log(workspace, 2)
    empty = cli("data", "from-feedback", "api", cwd=tmp_path)
    assert empty.returncode != 0 and "'api'" in empty.stderr and "labelled" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1
    bad = cli("data", "from-feedback", "api", "--since", "yesterday", cwd=tmp_path)
    assert bad.returncode != 0 and "--since" in bad.stderr and "yesterday" in bad.stderr
