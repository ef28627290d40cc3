"""A served deployment whose model was trained on a dataset version (so `check` finds its
reference through lineage), and predictions logged as the server logs them."""

from __future__ import annotations

import pandas as pd
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.core.serving import Label, Prediction, RouteMode
from loopml.workspace import Workspace
from tests.serving.conftest import iris_frame

FEATURES = iris_frame().drop(columns=["target"])
SHIFT = {"petal_length": 1.6, "petal_width": 2.0}  # two of four columns: dataset drift


def deploy_iris(workspace: Workspace, folder) -> LogisticRegression:
    frame = iris_frame()
    path = folder / "iris.csv"
    frame.to_csv(path, index=False)
    loopml.datasets.add("iris", path, workspace=workspace)
    with loopml.start_run(project="iris", workspace=workspace) as run:
        run.use_dataset("iris", 1)
        model = LogisticRegression(max_iter=500).fit(FEATURES, frame["target"])
        loopml.registry.register("iris", model, input_example=FEATURES.head(),
                                 metrics={"accuracy": 0.97}, workspace=workspace)  # fmt: skip
    loopml.deployments.create("iris-api", "iris/1", workspace=workspace)
    return model


def shifted(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(**{name: rows[name] * factor for name, factor in SHIFT.items()})


def log_predictions(
    workspace: Workspace, model: LogisticRegression, rows: pd.DataFrame, start: int = 0
) -> list[str]:
    outputs = model.predict(rows)
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    predictions = [
        Prediction(f"{start + i:032x}", "iris-api", "iris", 1, RouteMode.PRIMARY, now, row,
                   int(out), 1.0)
        for i, (row, out) in enumerate(zip(rows.to_dict("records"), outputs, strict=True))
    ]  # fmt: skip
    workspace.store.predictions.log(predictions)
    return [p.id for p in predictions]


def label(workspace: Workspace, ids: list[str], value: int = 0) -> None:
    workspace.store.predictions.add_labels([Label(i, value) for i in ids])
