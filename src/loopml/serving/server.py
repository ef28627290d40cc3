"""`loopml serve`: one uvicorn worker serving a deployment, shut down gracefully.

On SIGTERM (or Ctrl-C) readiness turns false at once, the server stops accepting
connections, requests in flight complete, queued predictions are written, then it exits.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from loopml.core.auth import check_token_strength
from loopml.core.errors import InvalidArgumentError
from loopml.serving.service import ServeSettings
from loopml.workspace import Workspace


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    deployment: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    settings: ServeSettings | None = None,
    workspace: Workspace | None = None,
) -> None:
    import uvicorn

    from loopml.serving.app import create_app

    settings = settings or ServeSettings(token=os.environ.get("LOOPML_SERVE_TOKEN") or None)
    if settings.token is not None:  # a weak secret guards nothing, on any address
        check_token_strength(settings.token, "LOOPML_SERVE_TOKEN")
    if not is_loopback(host) and not settings.token:
        raise InvalidArgumentError(
            f"refusing to serve {deployment!r} on {host} without authentication: set "
            "LOOPML_SERVE_TOKEN (clients send it as a Bearer token), or bind 127.0.0.1"
        )
    ws = workspace or Workspace.current()
    ws.store.deployments.get(deployment)  # a clear error before the server starts
    app = create_app(ws, deployment, settings)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=30,
        access_log=False, lifespan="on",
    )  # fmt: skip
    _GracefulServer(config, app).run()


class _GracefulServer:
    """uvicorn's server, with readiness dropped the moment a shutdown signal arrives."""

    def __new__(cls, config: Any, app: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                app.state.service.draining = True
                super().handle_exit(sig, frame)

        return Server(config)
