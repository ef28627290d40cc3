"""A workspace with a dataset, a training pipeline file, a champion v1 serving behind a
deployment, and a loop policy for it: what every controller test starts from."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.core.entities import FrozenDict
from loopml.core.serving import Label, Prediction, RouteMode
from loopml.workspace import Workspace

PIPELINE = textwrap.dedent(
    '''
    """The policy's training pipeline: load the newest data, split, train, register."""
    from typing import Any, NamedTuple

    import pandas as pd

    import loopml


    class Split(NamedTuple):
        train: pd.DataFrame
        test: pd.DataFrame


    @loopml.step
    def load(version: int) -> pd.DataFrame:
        return loopml.datasets.load("tx", version)


    @loopml.step
    def split(frame: pd.DataFrame) -> Split:
        return Split(frame.iloc[: len(frame) * 3 // 4], frame.iloc[len(frame) * 3 // 4 :])


    @loopml.step
    def train(frame: pd.DataFrame, quality: str, fail: bool) -> Any:
        from sklearn.linear_model import LogisticRegression

        if fail:
            raise RuntimeError("the training data is unusable")
        y = frame["y"]
        if quality == "bad":  # labels shuffled: a model no better than chance
            y = y.sample(frac=1.0, random_state=0).to_numpy()
        return LogisticRegression().fit(frame[["a", "b"]], y)


    @loopml.step
    def register(model: Any, holdout: pd.DataFrame) -> str:
        features = holdout[["a", "b"]]
        accuracy = float((model.predict(features) == holdout["y"]).mean())
        version = loopml.registry.register(
            "clf", model, input_example=features.head(), metrics={"accuracy": accuracy}
        )
        return version.uri


    @loopml.pipeline(project="loop")
    def training(quality: str = "good", fail: bool = False):
        version = loopml.datasets.get("tx").version
        parts = split(load(version=version))
        register(train(parts.train, quality=quality, fail=fail), parts.test)
    '''
)

POLICY = """\
policies:
  api:
    model: clf
    pipeline: train.py:training
    params: {{quality: {quality}, fail: {fail}}}
    triggers:
      - new_data: tx
      - drift: {{window: 300, min_predictions: 100}}
    gate:
      metric: accuracy
      must_beat_by: 0.0
      min: {{accuracy: 0.6}}
      data: {{output: split.test, label: y}}
    canary:
      traffic: 0.2
      min_requests: 20
      min_labels: 20
      metric: accuracy
      max_metric_drop: 0.05
      max_latency_ratio: 50
      max_duration: {max_duration}
      on_timeout: rollback
    cooldown: {cooldown}
"""


def make_frame(n: int, *, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """y depends on a and b; with `shift`, a moves and the boundary moves with it."""
    rng = np.random.default_rng(seed)
    a = rng.normal(shift, 1.0, n)
    b = rng.normal(0.0, 1.0, n)
    y = ((a - 1.5 * shift) + 0.5 * b > 0).astype(int)
    return pd.DataFrame({"a": a, "b": b, "y": y})


class LoopWorld:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ws = Workspace.init(root)
        (root / "train.py").write_text(PIPELINE)
        self.policy()

    def policy(self, *, quality: str = "good", fail: bool = False, cooldown: str = "0s",
               max_duration: str = "1h") -> None:  # fmt: skip
        text = POLICY.format(quality=quality, fail=str(fail).lower(), cooldown=cooldown,
                             max_duration=max_duration)  # fmt: skip
        (self.root / "loopml.yaml").write_text(text)

    def add_data(self, frame: pd.DataFrame, name: str = "tx") -> int:
        path = self.root / f"{name}-{len(frame)}-{frame['a'].sum():.6f}.csv"
        frame.to_csv(path, index=False)
        return loopml.datasets.add(name, path, workspace=self.ws).version

    def bootstrap(self) -> None:
        """v1 of clf trained on the first data, champion, serving as the primary of `api`."""
        from loopml.pipelines.loader import load_pipeline

        self.add_data(make_frame(800, seed=1))
        load_pipeline("train.py:training", self.root).run(workspace=self.ws)
        self.ws.store.models.set_alias("clf", "champion", 1, actor="test", reason="bootstrap")
        loopml.deployments.create("api", "clf@champion", workspace=self.ws)

    def serve(self, version: int, route: RouteMode, frame: pd.DataFrame, *,
              latency_ms: float = 2.0, labels: bool = True) -> None:  # fmt: skip
        """Log what a server would: the model's predictions on `frame`, then the labels."""
        model = loopml.registry.load(f"clf/{version}", workspace=self.ws)
        scores = model.score(model.prepare(frame[["a", "b"]]))
        now = datetime.now(UTC)
        predictions = [
            Prediction(uuid.uuid4().hex, "api", "clf", version, route,
                       now + timedelta(microseconds=i),
                       {"a": float(r.a), "b": float(r.b)}, int(out), latency_ms,
                       probabilities=FrozenDict(proba))
            for i, (r, out, proba) in enumerate(zip(frame.itertuples(), scores.predictions,
                                                    scores.by_class(), strict=True))
        ]  # fmt: skip
        self.ws.store.predictions.log(predictions)
        if labels:
            self.ws.store.predictions.add_labels(
                [Label(p.id, int(y)) for p, y in zip(predictions, frame["y"], strict=True)]
            )


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoopWorld:
    monkeypatch.chdir(tmp_path)  # the pipeline body finds the workspace from here, as the CLI does
    return LoopWorld(tmp_path)


@pytest.fixture
def controller(world: LoopWorld) -> Callable[..., Any]:
    from loopml.automation.controller import Controller

    def make(**options: Any) -> Controller:
        return Controller(world.ws, **options)

    return make
