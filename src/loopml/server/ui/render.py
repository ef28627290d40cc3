"""Rendering for the web UI: the Jinja2 environment (autoescaped), the page wrapper that turns
loopml errors into HTML error pages, and `Reader`, which makes every store call a page makes
pass the same role checks as the REST API."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from loopml.core.auth import ALL_PROJECTS, Principal, Role
from loopml.core.errors import LoopmlError, http_status
from loopml.core.units import format_size
from loopml.server.access import call_store
from loopml.store import rpc
from loopml.workspace import Workspace

TEMPLATES = Path(__file__).parent / "templates"
NAV = (
    ("runs", "/runs", "Runs"),
    ("pipelines", "/pipelines", "Pipelines"),
    ("datasets", "/datasets", "Datasets"),
    ("models", "/models", "Models"),
    ("deployments", "/deployments", "Deployments"),
    ("timeline", "/timeline", "Timeline"),
    ("audit", "/audit", "Audit"),
)


class Reader:
    """Store reads on behalf of the request's principal (None when auth is off), checked with
    the server's `Access` exactly as the same call through the REST API would be."""

    def __init__(self, request: Request) -> None:
        self.workspace: Workspace = request.app.state.workspace
        self.principal: Principal | None = getattr(request.state, "principal", None)
        self._access = request.app.state.access

    def __call__(self, store: str, method: str, **kwargs: Any) -> Any:
        kwargs = rpc.bind(store, method, kwargs)  # a page's URL values get the API's checks
        self._access.check(self.principal, store, method, kwargs)
        target = getattr(getattr(self.workspace.store, store), method)
        return call_store(store, method, target, kwargs)

    def check(self, store: str, method: str, **kwargs: Any) -> None:
        self._access.check(self.principal, store, method, kwargs)

    @property
    def sees_all(self) -> bool:
        return self.principal is None or self.principal.may(Role.VIEWER, ALL_PROJECTS)

    def visible_projects(self) -> list[str] | None:
        """None for every project, else the projects the principal may read."""
        if self.sees_all:
            return None
        assert self.principal is not None
        return sorted(p for p in self.principal.grants if p != ALL_PROJECTS)


@functools.cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template: user text is escaped, never marked safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        dt=format_time, duration=format_duration, num=format_number, seg=segment,
        size=format_size, short=lambda text, n=12: (text or "")[:n],
    )  # fmt: skip
    env.globals.update(nav=NAV, query=query_string)
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    settings = request.app.state.settings
    text = environment().get_template(template).render(
        request_path=request.url.path, user=principal.user if principal else None,
        auth=settings.auth, **context,
    )  # fmt: skip
    return HTMLResponse(text, status_code=status, headers={"Cache-Control": "no-store"})


def page(section: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Decorate a page handler: it gets `section` for the navigation bar, and a LoopmlError
    it raises becomes an HTML error page with the error's status."""

    def decorate(handler: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def wrapped(*args: Any, **kwargs: Any) -> Response:
            request: Request = kwargs["request"]
            try:
                return handler(*args, **kwargs)
            except LoopmlError as error:
                return render(request, "error.html", status=http_status(error), section=section,
                              kind=type(error).__name__, message=str(error))  # fmt: skip

        return wrapped

    return decorate


# -- filters --------------------------------------------------------------------------------
def format_time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.6g}"


def segment(value: Any) -> str:
    """One URL path segment (names never hold '/', but quote everything regardless)."""
    return quote(str(value), safe="")


def query_string(base: Mapping[str, Any], **changes: Any) -> str:
    """`?a=1&b=2` from `base` updated by `changes`; None or '' values are dropped."""
    merged = {**base, **changes}
    items = [(k, v) for k, v in merged.items() if v not in (None, "")]
    return "?" + urlencode(items, doseq=True) if items else ""
