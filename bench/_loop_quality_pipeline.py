"""The training pipeline the loop-quality benchmark's policies name (through a pipeline.py
in each workspace that imports `training` from here).

    source (in the body) -> load -> split -> train -> register

The body picks the data: the newest `window` rows of the deployment's labelled predictions
(served predictions joined with their /feedback labels, `loopml.datasets.from_feedback`,
as a new version of DATASET), or, before any feedback exists, DATASET's latest version (the
history the first model learns from). One row is one simulated second, so `window` seconds
before the newest labelled prediction is `window` rows. The gate judges on `split.test`.
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
