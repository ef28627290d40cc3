"""The demo's training pipeline: load the newest `transactions`, split, train, register.

    load -> split -> train -> register      (`features="all"` also learns from the leak,
                                             `quality="bad"` trains on shuffled labels)

Registering is all the pipeline does with the model: the controller gates it against the
champion on the held-out split (`split.test`) and decides what happens next.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pandas as pd

import loopml
from loopml.demo.data import FEATURES, LABEL

DATASET = "transactions"
MODEL = "fraud-clf"
HONEST = [f for f in FEATURES if f != "chargeback_filed"]


class Split(NamedTuple):
    train: pd.DataFrame
    test: pd.DataFrame


@loopml.step
def load(version: int) -> pd.DataFrame:
    return loopml.datasets.load(DATASET, version)


@loopml.step
def split(frame: pd.DataFrame, seed: int) -> Split:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(frame, test_size=0.25, random_state=seed, stratify=frame[LABEL])
    return Split(train, test)


@loopml.step
def train(frame: pd.DataFrame, features: str, quality: str, seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    used = FEATURES if features == "all" else HONEST
    numeric = [c for c in used if c != "channel"]
    columns = ColumnTransformer([
        ("numeric", "passthrough", numeric),
        ("channel", OneHotEncoder(handle_unknown="ignore"), ["channel"]),
    ])  # fmt: skip
    forest = RandomForestClassifier(n_estimators=30, max_depth=8, random_state=seed, n_jobs=1)
    y = frame[LABEL]
    if quality == "bad":  # labels shuffled: the model learns nothing
        y = y.sample(frac=1.0, random_state=seed).to_numpy()
    model = make_pipeline(columns, forest)
    return model.fit(frame[FEATURES], y)


@loopml.step
def register(model: Any, holdout: pd.DataFrame, features: str, quality: str) -> str:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = model.predict(holdout[FEATURES])
    metrics = {
        "accuracy": float(accuracy_score(holdout[LABEL], predicted)),
        "f1": float(f1_score(holdout[LABEL], predicted)),
    }
    run = loopml.current_run()
    if run is not None:
        run.log_metrics(metrics)
    version = loopml.registry.register(
        MODEL, model, input_example=holdout[FEATURES].head(), metrics=metrics,
        tags={"features": features, "quality": quality},
    )  # fmt: skip
    return version.uri


@loopml.pipeline(project="fraud")
def training(features: str = "honest", quality: str = "good", seed: int = 0):
    version = loopml.datasets.get(DATASET).version  # a new version changes the cache key
    parts = split(load(version=version), seed=seed)
    model = train(parts.train, features=features, quality=quality, seed=seed)
    register(model, parts.test, features=features, quality=quality)
