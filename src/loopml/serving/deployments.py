"""Deployments: which model versions serve a name, and how traffic is split between them.

    loopml.deployments.create("iris-api", model="iris-clf@champion")
    loopml.deployments.set_canary("iris-api", "iris-clf/4", traffic=0.1)
    loopml.deployments.promote("iris-api")      # the canary becomes the primary
    loopml.deployments.rollback("iris-api")     # drop the canary, or undo the last change

References are resolved to versions when a change is made, so a deployment serves exactly
what its record says until the next change; every change is a new revision, audited.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from loopml.core.auth import local_actor
from loopml.core.errors import ConflictError, InvalidArgumentError
from loopml.core.models import ModelVersion, VersionStatus
from loopml.core.serving import Deployment, DeploymentRevision, Route, RouteMode
from loopml.registry.api import resolve
from loopml.workspace import Workspace


def _ws(workspace: Workspace | None, create: bool = False) -> Workspace:
    return workspace or Workspace.current(create=create)


def _route(ws: Workspace, ref: str, mode: RouteMode, weight: float = 0.0) -> Route:
    version: ModelVersion = resolve(ref, workspace=ws)
    if version.status is VersionStatus.ARCHIVED:
        raise InvalidArgumentError(f"{version.uri} is archived and cannot serve")
    return Route(version.name, version.version, mode, weight, ref)


def create(
    name: str, model: str, *, reason: str | None = None, workspace: Workspace | None = None
) -> Deployment:
    """A deployment whose primary route serves `model` (a reference such as NAME@champion)."""
    ws = _ws(workspace, create=True)
    route = _route(ws, model, RouteMode.PRIMARY)
    return ws.store.deployments.create(name, [route], actor=local_actor(), reason=reason)


def get(name: str, *, workspace: Workspace | None = None) -> Deployment:
    return _ws(workspace).store.deployments.get(name)


def list_deployments(*, workspace: Workspace | None = None) -> list[Deployment]:
    return _ws(workspace).store.deployments.list()


def history(name: str, *, workspace: Workspace | None = None) -> list[DeploymentRevision]:
    return _ws(workspace).store.deployments.revisions(name)


def _change(
    ws: Workspace,
    current: Deployment,
    routes: Sequence[Route],
    action: str,
    reason: str | None,
) -> Deployment:
    return ws.store.deployments.update(
        current.name,
        routes,
        actor=local_actor(),
        action=action,
        reason=reason,
        expected_revision=current.revision,
    )


def set_primary(
    name: str, model: str, *, reason: str | None = None, workspace: Workspace | None = None
) -> Deployment:
    """Serve `model` as the primary (the canary and shadow stay as they are)."""
    ws = _ws(workspace)
    current = ws.store.deployments.get(name)
    routes = [r for r in current.routes if r.mode is not RouteMode.PRIMARY]
    return _change(ws, current, [_route(ws, model, RouteMode.PRIMARY), *routes], "primary", reason)


def set_canary(
    name: str,
    model: str,
    traffic: float = 0.1,
    *,
    reason: str | None = None,
    workspace: Workspace | None = None,
) -> Deployment:
    """Send `traffic` (a share between 0 and 1, exclusive) of requests to `model`."""
    if not 0.0 < traffic < 1.0:
        raise InvalidArgumentError(f"canary traffic must be between 0 and 1, got {traffic}")
    ws = _ws(workspace)
    current = ws.store.deployments.get(name)
    canary = _route(ws, model, RouteMode.CANARY, traffic)
    routes = [r for r in current.routes if r.mode is not RouteMode.CANARY]
    return _change(ws, current, [*routes, canary], "canary", reason)


def set_shadow(
    name: str, model: str, *, reason: str | None = None, workspace: Workspace | None = None
) -> Deployment:
    """Copy every request to `model` off the request path; its answers are only logged."""
    ws = _ws(workspace)
    current = ws.store.deployments.get(name)
    shadow = _route(ws, model, RouteMode.SHADOW)
    routes = [r for r in current.routes if r.mode is not RouteMode.SHADOW]
    return _change(ws, current, [*routes, shadow], "shadow", reason)


def remove(
    name: str, mode: RouteMode | str, *, reason: str | None = None,
    workspace: Workspace | None = None,
) -> Deployment:  # fmt: skip
    """Remove the canary or the shadow route."""
    mode = RouteMode(mode)
    if mode is RouteMode.PRIMARY:
        raise InvalidArgumentError("the primary route cannot be removed; set another instead")
    ws = _ws(workspace)
    current = ws.store.deployments.get(name)
    if current.route(mode) is None:
        raise ConflictError(f"deployment {name!r} has no {mode.value} route")
    routes = [r for r in current.routes if r.mode is not mode]
    return _change(ws, current, routes, f"remove_{mode.value}", reason)


def promote(
    name: str, *, reason: str | None = None, workspace: Workspace | None = None
) -> Deployment:
    """The canary becomes the primary, with all the traffic."""
    ws = _ws(workspace)
    current = ws.store.deployments.get(name)
    canary = current.canary
    if canary is None:
        raise ConflictError(f"deployment {name!r} has no canary to promote")
    primary = dataclasses.replace(canary, mode=RouteMode.PRIMARY, weight=0.0)
    others = [r for r in current.routes if r.mode is RouteMode.SHADOW]
    return _change(ws, current, [primary, *others], "promote", reason)


def rollback(
    name: str, *, reason: str | None = None, workspace: Workspace | None = None
) -> Deployment:
    """Drop the canary if there is one; otherwise restore the routes before the last change."""
    ws = _ws(workspace)
    current = ws.store.deployments.get(name)
    if current.canary is not None:
        routes = [r for r in current.routes if r.mode is not RouteMode.CANARY]
        return _change(ws, current, routes, "rollback", reason)
    revisions = ws.store.deployments.revisions(name)
    if len(revisions) < 2:
        raise ConflictError(f"deployment {name!r} has no earlier revision to roll back to")
    return _change(ws, current, revisions[-2].routes, "rollback", reason)
