"""Which route answers a request: the canary its share, the primary the rest.

With a request key (the `X-Request-Key` header) the choice is a hash of the key, so one key
always reaches the same model; without one it is random.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random

from loopml.core.serving import Deployment, Route, RouteMode
from loopml.registry.loaded import LoadedModel


@dataclasses.dataclass(frozen=True)
class Served:
    route: Route
    model: LoadedModel


@dataclasses.dataclass(frozen=True)
class RoutingTable:
    """An immutable snapshot: a request keeps the table it started with, so swapping in a
    new one never changes the model under a request in flight."""

    revision: int
    primary: Served
    canary: Served | None = None
    shadow: Served | None = None

    def choose(self, key: str | None = None, draw: float | None = None) -> Served:
        if self.canary is None:
            return self.primary
        point = key_point(key) if key is not None else draw
        if point is None:
            point = random.random()
        return self.canary if point < self.canary.route.weight else self.primary

    @property
    def served(self) -> list[Served]:
        return [s for s in (self.primary, self.canary, self.shadow) if s is not None]


def key_point(key: str) -> float:
    """Where a request key falls in [0, 1): a cryptographic digest, so that keys alike (a
    counter, "order-17", "order-18") spread evenly; CRC-32 kept long runs of them on one side."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def build_table(deployment: Deployment, models: dict[str, LoadedModel]) -> RoutingTable:
    """A table for `deployment` from loaded models keyed by their `name/version`."""

    def served(mode: RouteMode) -> Served | None:
        route = deployment.route(mode)
        return None if route is None else Served(route, models[route.uri])

    primary = served(RouteMode.PRIMARY)
    assert primary is not None
    return RoutingTable(
        deployment.revision, primary, served(RouteMode.CANARY), served(RouteMode.SHADOW)
    )
