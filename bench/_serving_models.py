"""The models bench/serving.py serves: the same data and hyperparameters on every side.

Imported by serving.py and _bare_server.py (project venv) and by _mlflow_serving.py (peers
venv); both venvs hold the same scikit-learn and XGBoost versions, so both train the same
model (serving.py checks that their predictions agree on every iris row).
"""

from __future__ import annotations

from typing import Any

MODELS = ("iris", "xgboost")
XGB_TREES = 100
REQUEST_ROW = 50  # iris row 50, a versicolor: the row every benchmark request sends


def features() -> Any:
    """The iris features as a frame, columns sepal_length ... petal_width, and the target."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    return frame.drop(columns=["target"]), frame["target"]


def train(kind: str) -> Any:
    """`iris`: LogisticRegression; `xgboost`: a 100-tree XGBClassifier (one thread)."""
    x, y = features()
    if kind == "iris":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=500).fit(x, y)
    if kind == "xgboost":
        from xgboost import XGBClassifier

        model = XGBClassifier(n_estimators=XGB_TREES, max_depth=4, n_jobs=1, random_state=0)
        return model.fit(x, y)
    raise ValueError(f"unknown model {kind!r}")


def request_row() -> dict[str, float]:
    """The one row every benchmark request sends."""
    x, _ = features()
    return {k: float(v) for k, v in x.iloc[REQUEST_ROW].items()}
