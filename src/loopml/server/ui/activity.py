"""The controller's timeline (every deployment's loop events) and the audit log."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from loopml.server.ui.render import Reader, page, render, segment

router = APIRouter(include_in_schema=False)
LIMITS = (100, 500, 2000)


@router.get("/timeline")
@page("timeline")
def timeline_page(request: Request, deployment: str = "", limit: int = 500) -> Response:
    read = Reader(request)
    limit = limit if limit in LIMITS else 500
    events = read("loops", "events", deployment=deployment or None, limit=limit)
    states = read("loops", "list")
    return render(request, "timeline.html", section="timeline", events=list(reversed(events)),
                  states=states, deployment=deployment, limit=limit, limits=LIMITS,
                  deployments=sorted(s.deployment for s in states),
                  as_json=_json)  # fmt: skip


@router.get("/audit")
@page("audit")
def audit_page(request: Request, target: str = "", action: str = "", limit: int = 100) -> Response:
    limit = limit if limit in LIMITS else 100
    events = Reader(request)("audit", "events", target=target or None, action=action or None,
                             limit=limit)  # fmt: skip
    return render(request, "audit.html", section="audit", events=events, target=target,
                  action=action, limit=limit, limits=LIMITS, as_json=_json,
                  target_href=target_href)  # fmt: skip


def target_href(target: str) -> str | None:
    """The page of an audited target such as `model:NAME` or `deployment:NAME`."""
    kind, _, name = target.partition(":")
    pages = {"model": "/models/", "deployment": "/deployments/", "dataset": "/datasets/"}
    return pages[kind] + segment(name) if kind in pages and name else None


def _json(value: object) -> str:
    """Details as indented JSON text (escaped by the template like any other text)."""
    return json.dumps(value, indent=1, sort_keys=True, default=str)
