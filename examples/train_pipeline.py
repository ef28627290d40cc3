"""A complete training pipeline on the wine data that scikit-learn ships.

    ingest -> validate (stops on schema errors) -> split -> train -> evaluate -> register

`register` puts the model in the registry as `wine-clf`, gates it against the current
`wine-clf@champion` on the same held-out rows, and moves the alias when it wins.

Run it with the CLI (a live view of the steps; a second run is served from the cache):

    loopml pipeline run examples/train_pipeline.py:training --param C=0.5

or from Python: `python examples/train_pipeline.py`.

The data is versioned as the dataset `wine` (added from scikit-learn on first use). New data
is validated against the schema of a reference version (`reference`, version 1 by default),
so a file with a missing column or values far outside the observed ranges stops the pipeline
before it trains. The pipeline resolves `version="latest"` to a number while it builds its
graph, so a new dataset version changes the ingest step's cache key and retrains.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

import loopml

DATASET = "wine"
MODEL = "wine-clf"
LABEL = "target"


def ensure_dataset() -> None:
    """Version scikit-learn's wine data as `wine` unless some version already exists."""
    try:
        loopml.datasets.get(DATASET)
    except loopml.NotFoundError:
        from sklearn.datasets import load_wine

        frame = load_wine(as_frame=True).frame
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "wine.csv"
            frame.to_csv(path, index=False)
            loopml.datasets.add(DATASET, path)


@loopml.step
def ingest(version: int) -> pd.DataFrame:
    return loopml.datasets.load(DATASET, version)  # recorded as this step's input


@loopml.step
def validate(frame: pd.DataFrame, reference: int) -> pd.DataFrame:
    report = loopml.datasets.validate(DATASET, frame, version=reference)
    if not report.ok:
        problems = "; ".join(a.message for a in report.errors)
        raise ValueError(f"the data does not match {DATASET} v{reference}'s schema: {problems}")
    return frame


class Split(NamedTuple):
    train: pd.DataFrame
    test: pd.DataFrame


@loopml.step
def split(frame: pd.DataFrame, test_size: float, seed: int) -> Split:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[LABEL]
    )
    return Split(train, test)


@loopml.step
def train(frame: pd.DataFrame, C: float) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    return model.fit(frame.drop(columns=[LABEL]), frame[LABEL])


@loopml.step
def evaluate(model: Any, frame: pd.DataFrame) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = model.predict(frame.drop(columns=[LABEL]))
    metrics = {
        "accuracy": float(accuracy_score(frame[LABEL], predicted)),
        "f1_macro": float(f1_score(frame[LABEL], predicted, average="macro")),
    }
    run = loopml.current_run()
    if run is not None:
        run.log_metrics(metrics)
    return metrics


@loopml.step
def register(model: Any, metrics: dict, holdout: pd.DataFrame, min_accuracy: float) -> dict:
    """Register the model, gate it against the champion on the same held-out rows, and make
    it the champion when it wins (the first model only has to clear the floor)."""
    features = holdout.drop(columns=[LABEL])
    version = loopml.registry.register(MODEL, model, input_example=features.head(), metrics=metrics)
    try:
        champion = loopml.registry.get_alias(MODEL, "champion").uri
    except loopml.NotFoundError:
        champion = None
    decision = loopml.registry.compare(
        version.uri,
        champion,
        data=holdout,
        label=LABEL,
        policy={"metric": "accuracy", "must_beat_by": 0.0, "min": {"accuracy": min_accuracy}},
    )
    if decision.passed:
        reason = f"gate passed against {champion or 'no champion'}"
        loopml.registry.set_alias(MODEL, "champion", version.version, reason=reason)
    return {
        "model": version.uri,
        "champion": decision.passed,
        "reasons": list(decision.reasons),
        **decision.candidate_metrics,
    }


@loopml.pipeline(project="wine")
def training(
    C: float = 1.0,
    test_size: float = 0.25,
    seed: int = 0,
    version: int | str = "latest",
    reference: int = 1,
    min_accuracy: float = 0.8,
):
    ensure_dataset()
    version = loopml.datasets.get(DATASET, version).version
    frame = validate(ingest(version=version), reference=reference)
    parts = split(frame, test_size=test_size, seed=seed)
    model = train(parts.train, C=C)
    metrics = evaluate(model, parts.test)
    register(model, metrics, parts.test, min_accuracy=min_accuracy)


if __name__ == "__main__":
    loopml.Workspace.current(create=True)  # a workspace here unless one is found above
    result = training.run()
    print(result.status, result.load("register"))
