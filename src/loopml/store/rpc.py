"""The store interfaces as a remote API: which calls exist, which only read, and how their
arguments and results cross the wire. The server and the remote store both read this one
table, so a method added to an interface is served and proxied without more code.

    POST /api/v1/{store}/{method}   {"kwargs": {...encoded...}}  ->  {"result": ...encoded...}
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import cache
from typing import Any

from loopml.core.codec import decode, encode
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.store.base import (
    AuditStore,
    DatasetStore,
    DeploymentStore,
    LoopStore,
    ModelStore,
    MonitorStore,
    PredictionStore,
    ProjectStore,
    RunPage,
    RunStore,
)

API_PREFIX = "/api/v1"
STORES: dict[str, type] = {
    "projects": ProjectStore,
    "runs": RunStore,
    "datasets": DatasetStore,
    "models": ModelStore,
    "audit": AuditStore,
    "deployments": DeploymentStore,
    "predictions": PredictionStore,
    "monitoring": MonitorStore,
    "loops": LoopStore,
}
# Calls that change nothing; every other call needs a role that may write.
READS = frozenset({
    "get", "list", "search", "count", "query", "events", "artifacts", "inputs", "get_artifact",
    "metric_history", "producers", "consumers", "find_by_digest", "produced_by", "revision",
    "revisions", "latest_version", "list_latest", "list_versions", "versions_from_run",
    "get_version", "get_model", "get_alias", "list_models", "failure_count",
})  # fmt: skip


@cache
def methods(store: str) -> dict[str, inspect.Signature]:
    """The public methods of one store interface, with their signatures (without self)."""
    interface = STORES.get(store)
    if interface is None:
        raise NotFoundError(f"no store {store!r} (stores: {', '.join(STORES)})")
    found = {}
    for name in sorted(interface.__abstractmethods__):
        signature = inspect.signature(getattr(interface, name))
        found[name] = signature.replace(parameters=list(signature.parameters.values())[1:])
    return found


def is_read(method: str) -> bool:
    return method in READS


def bind(store: str, method: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Check `kwargs` against the method's signature; errors name what is wrong."""
    signature = methods(store).get(method)
    if signature is None:
        raise NotFoundError(f"store {store!r} has no method {method!r}")
    try:
        bound = signature.bind(**kwargs)
    except TypeError as exc:
        raise InvalidArgumentError(f"{store}.{method}: {exc}") from None
    return dict(bound.arguments)


def call_arguments(store: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict:
    """Positional and keyword arguments of a client call, all by name."""
    signature = methods(store)[method]
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{store}.{method}: {exc}") from None
    return dict(bound.arguments)


def encode_result(value: Any) -> Any:
    if isinstance(value, RunPage):  # a list that also carries the next page's token
        return {"$page": encode(list(value)), "next_page_token": value.next_page_token}
    return encode(value)


def decode_result(value: Any) -> Any:
    if isinstance(value, dict) and "$page" in value:
        return RunPage(decode(value["$page"]), value.get("next_page_token"))
    return decode(value)


def encode_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {name: encode(value) for name, value in arguments.items()}


def decode_arguments(arguments: Any) -> dict[str, Any]:
    if not isinstance(arguments, dict):
        raise InvalidArgumentError("the body must be a JSON object with 'kwargs': {name: value}")
    # Lists and mappings arrive as lists and FrozenDicts: both serve wherever a store takes a
    # Sequence or a Mapping.
    return {name: decode(value) for name, value in arguments.items()}
