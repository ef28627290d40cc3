"""`loopml server`: the REST API on uvicorn. Auth is on by default; turning it off is allowed
only on a loopback address. The first start with no users prints a one-time admin token."""

from __future__ import annotations

import sys

from loopml.core.auth import Role
from loopml.core.errors import InvalidArgumentError
from loopml.server.app import ServerSettings, create_app
from loopml.serving.server import is_loopback
from loopml.workspace import Workspace


def first_admin_token(workspace: Workspace) -> str | None:
    """A token for a new `admin` user when the store has no users yet."""
    auth = workspace.store.auth
    if auth is None or auth.has_users():
        return None
    return auth.create_token("admin", role=Role.ADMIN, note="first start")


def serve(
    workspace: Workspace,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    auth: bool = True,
    allowed_hosts: tuple[str, ...] = (),
) -> None:
    import uvicorn

    if not auth and not is_loopback(host):
        raise InvalidArgumentError(
            f"refusing to serve on {host} without authentication: keep auth on, or bind 127.0.0.1"
        )
    if workspace.store.auth is None:
        raise InvalidArgumentError("a server needs a local SQL store (sqlite:// or postgresql://)")
    if auth and (token := first_admin_token(workspace)):
        print("no users yet: created user 'admin'; its token (shown once):", file=sys.stderr)
        print(token, flush=True)
    hosts = allowed_hosts or (("127.0.0.1", "localhost", "::1") if is_loopback(host) else (host,))
    app = create_app(workspace, ServerSettings(auth=auth, allowed_hosts=hosts))
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
