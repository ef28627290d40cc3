"""Records of serving: deployments and their routes, predictions, and labels (feedback)."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

from loopml.core.entities import FrozenDict


class RouteMode(enum.StrEnum):
    PRIMARY = "primary"  # answers whatever traffic the canary does not take
    CANARY = "canary"  # answers its share of the traffic
    SHADOW = "shadow"  # gets a copy of every request; its answers are logged, never returned


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    model: str
    version: int
    mode: RouteMode
    weight: float = 0.0  # the canary's share of traffic (0..1); unused for the others
    ref: str | None = None  # what the user asked for, e.g. "iris-clf@champion"

    @property
    def uri(self) -> str:
        return f"{self.model}/{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "mode": self.mode.value,
            "weight": self.weight,
            "ref": self.ref,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Route:
        return cls(
            data["model"], int(data["version"]), RouteMode(data["mode"]),
            float(data.get("weight") or 0.0), data.get("ref"),
        )  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Deployment:
    name: str
    routes: tuple[Route, ...]
    revision: int  # bumped by every change; servers watch it
    created_time: datetime
    updated_time: datetime

    def route(self, mode: RouteMode) -> Route | None:
        return next((r for r in self.routes if r.mode is mode), None)

    @property
    def primary(self) -> Route:
        route = self.route(RouteMode.PRIMARY)
        assert route is not None, "a deployment always has a primary route"
        return route

    @property
    def canary(self) -> Route | None:
        return self.route(RouteMode.CANARY)

    @property
    def shadow(self) -> Route | None:
        return self.route(RouteMode.SHADOW)


@dataclasses.dataclass(frozen=True, slots=True)
class DeploymentRevision:
    """One state of a deployment's routes, kept with who changed it, how and why."""

    revision: int
    routes: tuple[Route, ...]
    actor: str
    action: str
    reason: str | None
    time: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Prediction:
    id: str
    deployment: str
    model: str
    version: int
    route: RouteMode
    time: datetime
    features: FrozenDict  # column -> value, one row
    output: Any
    latency_ms: float
    label: Any = None  # joined from feedback when it arrived
    labeled_time: datetime | None = None
    # The model's class probabilities, class (as text) -> probability, for a classifier
    # with predict_proba: what ranking metrics (roc_auc) and confidence estimates need.
    probabilities: FrozenDict | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Label:
    prediction_id: str
    label: Any


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """A request a model version failed to answer (it raised, or timed out): the error rate
    a canary is judged on. Refused requests (bad input, overload) are not the model's."""

    deployment: str
    model: str
    version: int
    route: RouteMode
    time: datetime
    reason: str  # "model" or "timeout"
