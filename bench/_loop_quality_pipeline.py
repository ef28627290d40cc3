"""The training pipeline the loop-quality benchmark's policies name (through a pipeline.py
in each workspace that imports `training` from here).

    training:         source (in the body) -> load -> split -> train -> register
    training_recent:  source (in the body) -> load_in_order -> split_newest -> train -> register

The body picks the data: the newest `window` rows of the deployment's labelled predictions
(served predictions joined with their /feedback labels, `loopml.datasets.from_feedback`,
as a new version of DATASET), or, before any feedback exists, DATASET's latest version (the
history the first model learns from). One row is one simulated second, so `window` seconds
before the newest labelled prediction is `window` rows.

`training` splits the window at random (75/25, stratified) and the gate judges on
`split.test`: right after a change that test split is mostly old data. `training_recent`
orders the window by prediction time and holds out the newest `newest` share of it (the
gate judges on `split_newest.test`): the candidate learns from the older rows only and is
judged, against the champion, on the newest labelled rows, which it never saw.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple

import pandas as pd

import loopml
from _loop_quality_stream import FEATURES, LABEL, auc, make_model

DEPLOYMENT = "quality-api"
DATASET = "quality-train"
MODEL = "quality-clf"


class Split(NamedTuple):
    train: pd.DataFrame
    test: pd.DataFrame


def newest_version(window: int) -> int:
    """The dataset version to train on now (made from feedback when there is some)."""
    from loopml.workspace import Workspace

    ws = Workspace.current()
    newest = ws.store.predictions.query(deployment=DEPLOYMENT, labeled=True, limit=1,
                                        newest=True)  # fmt: skip
    if not newest:
        return loopml.datasets.get(DATASET, workspace=ws).version
    since = newest[0].time - timedelta(seconds=window - 1)
    made = loopml.datasets.from_feedback(DEPLOYMENT, DATASET, since=since, workspace=ws)
    return made.version


@loopml.step
def load(version: int) -> pd.DataFrame:
    frame = loopml.datasets.load(DATASET, version)
    return frame[[*FEATURES, LABEL]].reset_index(drop=True)


@loopml.step
def split(frame: pd.DataFrame, seed: int) -> Split:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(frame, test_size=0.25, random_state=seed,
                                   stratify=frame[LABEL])  # fmt: skip
    return Split(train.reset_index(drop=True), test.reset_index(drop=True))


@loopml.step
def load_in_order(version: int) -> pd.DataFrame:
    """The version's rows, oldest prediction first (the history, which has no prediction
    times, is already in stream order)."""
    frame = loopml.datasets.load(DATASET, version)
    if "predicted_at" in frame.columns:
        frame = frame.sort_values("predicted_at", kind="stable")
    return frame[[*FEATURES, LABEL]].reset_index(drop=True)


@loopml.step
def split_newest(frame: pd.DataFrame, newest: float) -> Split:
    """A time-ordered split: the newest `newest` share of the rows is the test split (never
    trained on), the older rows the training split."""
    held = min(len(frame) - 1, max(1, round(len(frame) * newest)))
    train, test = frame.iloc[: len(frame) - held], frame.iloc[len(frame) - held :]
    return Split(train.reset_index(drop=True), test.reset_index(drop=True))


@loopml.step
def train(frame: pd.DataFrame, seed: int) -> Any:
    return make_model(seed).fit(frame[FEATURES], frame[LABEL])


@loopml.step
def register(model: Any, holdout: pd.DataFrame) -> str:
    metrics = {"roc_auc": auc(holdout[LABEL], model.predict_proba(holdout[FEATURES])[:, 1])}
    run = loopml.current_run()
    if run is not None:
        run.log_metrics(metrics)
    version = loopml.registry.register(MODEL, model, input_example=holdout[FEATURES].head(),
                                       metrics=metrics)  # fmt: skip
    return version.uri


@loopml.pipeline(project="loop-quality")
def training(window: int = 1000, seed: int = 0):
    version = newest_version(window)  # a new version changes the cache key
    parts = split(load(version=version), seed=seed)
    model = train(parts.train, seed=seed)
    register(model, parts.test)


@loopml.pipeline(project="loop-quality")
def training_recent(window: int = 1000, newest: float = 0.25, seed: int = 0):
    """As `training`, with the newest `newest` share of the window held out for the gate."""
    version = newest_version(window)
    parts = split_newest(load_in_order(version=version), newest=newest)
    model = train(parts.train, seed=seed)
    register(model, parts.test)
