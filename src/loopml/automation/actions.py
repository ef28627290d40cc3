"""What the controller changes in the world: the canary route, the champion alias, the
primary route, the candidate's tags. Each action looks before it acts, so doing it twice (after
a crash between acting and saving the loop state) changes nothing the second time. Each writes
an audit event with the numbers that decided and notifies the policy's webhooks."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from loopml.core.errors import NotFoundError
from loopml.core.policies import Policy
from loopml.core.project_config import load_project_config
from loopml.core.serving import RouteMode
from loopml.workspace import Workspace

log = logging.getLogger("loopml.automation")

ACTOR = "loopml-controller"
CHAMPION = "champion"
TAG_GATE = "loopml.gate"


def champion(ws: Workspace, policy: Policy) -> str | None:
    """The version the candidate must beat: the champion alias, else what serves now."""
    try:
        return ws.store.models.get_alias(policy.model, CHAMPION).uri
    except NotFoundError:
        pass
    try:
        primary = ws.store.deployments.get(policy.deployment).primary
    except NotFoundError:
        return None
    return primary.uri if primary.model == policy.model else None


def start_canary(ws: Workspace, policy: Policy, candidate: str) -> None:
    from loopml.serving import deployments

    assert policy.canary is not None
    current = ws.store.deployments.get(policy.deployment)
    canary = current.canary
    if canary is not None and canary.uri == candidate and canary.weight == policy.canary.traffic:
        return
    deployments.set_canary(policy.deployment, candidate, policy.canary.traffic,
                           reason="loop: the gate passed", workspace=ws)  # fmt: skip


def promote(ws: Workspace, policy: Policy, candidate: str, numbers: Mapping[str, Any]) -> None:
    """The candidate serves all traffic and becomes the champion."""
    from loopml.serving import deployments

    current = ws.store.deployments.get(policy.deployment)
    if current.canary is not None and current.canary.uri == candidate:
        deployments.promote(policy.deployment, reason="loop: promoted", workspace=ws)
    elif current.primary.uri != candidate:
        deployments.set_primary(policy.deployment, candidate, reason="loop: promoted",
                                workspace=ws)  # fmt: skip
    name, version = split_uri(candidate)
    try:
        already = ws.store.models.get_alias(name, CHAMPION).version == version
    except NotFoundError:
        already = False
    if not already:
        ws.store.models.set_alias(name, CHAMPION, version, actor=ACTOR, reason="loop: promoted")
    _tag(ws, candidate, "promoted")
    _announce(ws, policy, "loop.promote", candidate, numbers)


def rollback(ws: Workspace, policy: Policy, candidate: str, numbers: Mapping[str, Any]) -> None:
    """The canary goes; the champion keeps serving."""
    from loopml.serving import deployments

    current = ws.store.deployments.get(policy.deployment)
    if current.canary is not None and current.canary.uri == candidate:
        deployments.remove(policy.deployment, RouteMode.CANARY, reason="loop: rolled back",
                           workspace=ws)  # fmt: skip
    _tag(ws, candidate, "rolled_back")
    _announce(ws, policy, "loop.rollback", candidate, numbers)


def reject(ws: Workspace, policy: Policy, candidate: str, decision: Mapping[str, Any]) -> None:
    """The candidate stays registered, tagged with its gate result."""
    _tag(ws, candidate, "rejected", {"loopml.gate.reasons": "; ".join(decision["reasons"])[:500]})
    _announce(ws, policy, "loop.reject", candidate, {"gate": dict(decision),
                                                     "cycle": decision.get("cycle")})  # fmt: skip


def audit(ws: Workspace, policy: Policy, action: str, details: Mapping[str, Any]) -> None:
    ws.store.audit.record(ACTOR, action, f"deployment:{policy.deployment}", _jsonable(details))


def _announce(
    ws: Workspace, policy: Policy, action: str, candidate: str, numbers: Mapping[str, Any]
) -> None:
    details = {"model": candidate, **numbers}
    if _announced(ws, policy, action, details):
        return  # a controller restarted after acting: say it once
    audit(ws, policy, action, details)
    if not policy.notify:
        return
    from loopml.monitoring.webhooks import deliver

    webhooks = load_project_config(ws.config.project_root).webhooks
    payload = {"event": action, "deployment": policy.deployment, **_jsonable(details)}
    deliveries = [deliver(webhooks[name], payload) for name in policy.notify if name in webhooks]
    audit(
        ws,
        policy,
        "webhook.delivery",
        {"action": action, "deliveries": [d.to_json() for d in deliveries]},
    )


def _announced(ws: Workspace, policy: Policy, action: str, details: Mapping[str, Any]) -> bool:
    last = ws.store.audit.events(target=f"deployment:{policy.deployment}", action=action, limit=1)
    if not last or details.get("cycle") is None:
        return False
    previous = last[0].details
    return bool(previous.get("model") == details["model"] and
                previous.get("cycle") == details["cycle"])  # fmt: skip


def _tag(
    ws: Workspace, candidate: str, result: str, extra: Mapping[str, str] | None = None
) -> None:
    name, version = split_uri(candidate)
    ws.store.models.update_version(name, version, tags={TAG_GATE: result, **(extra or {})})


def split_uri(uri: str) -> tuple[str, int]:
    name, _, version = uri.rpartition("/")
    return name, int(version)


def _jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(value, default=str))
