"""Deployment changes: canary, shadow, promote, rollback; every change a revision."""

from __future__ import annotations

import pytest

import loopml
from loopml.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from tests.serving import models


@pytest.fixture
def ws(workspace):
    for value in range(3):
        loopml.registry.register("m", models.Constant(value), trust=True, workspace=workspace)
    loopml.registry.set_alias("m", "champion", 1, workspace=workspace)
    return workspace


def test_canary_promote_and_rollback(ws) -> None:
    d = loopml.deployments
    created = d.create("api", "m@champion", reason="launch", workspace=ws)
    assert (created.primary.uri, created.primary.ref, created.revision) == ("m/1", "m@champion", 1)
    canary = d.set_canary("api", "m/2", traffic=0.2, workspace=ws)
    assert canary.canary.uri == "m/2" and canary.canary.weight == 0.2
    rolled = d.rollback("api", reason="errors up", workspace=ws)
    assert rolled.canary is None and rolled.primary.uri == "m/1"
    d.set_canary("api", "m/3", traffic=0.1, workspace=ws)
    promoted = d.promote("api", workspace=ws)
    assert promoted.primary.uri == "m/3" and promoted.canary is None
    undone = d.rollback("api", workspace=ws)  # no canary: the last change is undone
    assert undone.primary.uri == "m/1" and undone.canary.uri == "m/3"
    actions = [r.action for r in d.history("api", workspace=ws)]
    assert actions == ["create", "canary", "rollback", "canary", "promote", "rollback"]
    events = ws.store.audit.events(target="deployment:api")
    assert events[-1].details["reason"] == "launch" and events[0].actor


def test_shadow_set_and_removed(ws) -> None:
    loopml.deployments.create("api", "m/1", workspace=ws)
    shadowed = loopml.deployments.set_shadow("api", "m/2", workspace=ws)
    assert shadowed.shadow.uri == "m/2"
    assert loopml.deployments.remove("api", "shadow", workspace=ws).shadow is None
    with pytest.raises(ConflictError, match="no shadow route"):
        loopml.deployments.remove("api", "shadow", workspace=ws)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda ws: loopml.deployments.get("nope", workspace=ws), NotFoundError, "not found"),
        (lambda ws: loopml.deployments.create("api", "m/9", workspace=ws), NotFoundError,
         "no version 9"),
        (lambda ws: loopml.deployments.create("api", "nope@champion", workspace=ws),
         NotFoundError, "model 'nope'"),
        (lambda ws: loopml.deployments.create("bad name", "m/1", workspace=ws),
         InvalidArgumentError, "deployment name"),
        (lambda ws: loopml.deployments.set_canary("api", "m/2", traffic=1.5, workspace=ws),
         InvalidArgumentError, "between 0 and 1"),
        (lambda ws: loopml.deployments.promote("api", workspace=ws), ConflictError, "no canary"),
        (lambda ws: loopml.deployments.rollback("api", workspace=ws), ConflictError,
         "no earlier revision"),
        (lambda ws: loopml.deployments.remove("api", "primary", workspace=ws),
         InvalidArgumentError, "cannot be removed"),
    ],
)  # fmt: skip
def test_bad_changes_are_refused(ws, call, error, message) -> None:
    if "api" not in [d.name for d in loopml.deployments.list_deployments(workspace=ws)]:
        loopml.deployments.create("api", "m/1", workspace=ws)
    with pytest.raises(error, match=message):
        call(ws)


def test_deleting_a_served_version_is_refused_while_aliased(ws) -> None:
    loopml.deployments.create("api", "m@champion", workspace=ws)
    with pytest.raises(ConflictError):
        loopml.registry.delete_version("m", 1, workspace=ws)
