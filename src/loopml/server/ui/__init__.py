"""The web UI: server-rendered pages (Jinja2, autoescaped) with Plotly charts, served by the
team server at `/` and by `loopml ui` on loopback.

Pages read the workspace's stores through `render.Reader`, so a browser session has exactly
the rights of its token. `session` handles /login and the session cookie.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from loopml.server.ui.session import PUBLIC, credentials, is_page, to_login

__all__ = ["PUBLIC", "credentials", "is_page", "mount", "to_login"]


def mount(app: FastAPI) -> None:
    """Add the UI's routes to the server's app."""
    from loopml.server.ui import activity, data, figures, models, runs, session, static

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/runs", status_code=303)

    for module in (session, static, figures, runs, data, models, activity):
        # Added one by one (not include_router) so they show in the app's route table,
        # which the tests walk to check that every page is behind the login.
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            app.add_api_route(route.path, route.endpoint, methods=sorted(route.methods),
                              name=route.name, include_in_schema=False)  # fmt: skip
