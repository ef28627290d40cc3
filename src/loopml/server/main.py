"""`loopml server`: the REST API on uvicorn. Auth is on by default; turning it off is allowed
only on a loopback address. The first start with no users prints a one-time admin token.

With `workers` > 1, uvicorn starts that many processes, each building the app from the
environment (`worker_app`): the workspace is found as in the parent (same folder and
variables), and what the processes share lives in the database (tokens, idempotency keys;
a browser session is its token), so any worker can answer any request."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from loopml.core.auth import Role
from loopml.core.errors import InvalidArgumentError
from loopml.server.app import ServerSettings, create_app
from loopml.serving.server import allowed_hosts as machine_allowed_hosts
from loopml.serving.server import check_free, is_loopback
from loopml.workspace import Workspace

SETTINGS_VARIABLE = "LOOPML_SERVER_SETTINGS"  # how the parent hands its settings to workers


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
    workers: int = 1,
) -> None:
    import uvicorn

    if workers < 1:
        raise InvalidArgumentError(f"--workers must be at least 1, got {workers}")
    if not auth and not is_loopback(host):
        raise InvalidArgumentError(
            f"refusing to serve on {host} without authentication: keep auth on, or bind 127.0.0.1"
        )
    if workspace.store.auth is None:
        raise InvalidArgumentError("a server needs a local SQL store (sqlite:// or postgresql://)")
    if auth and (token := first_admin_token(workspace)):
        print("no users yet: created user 'admin'; its token (shown once):", file=sys.stderr)
        print(token, flush=True)
    check_free(host, port)
    hosts = tuple(sorted(machine_allowed_hosts(host, allowed_hosts)))
    settings = ServerSettings(auth=auth, allowed_hosts=hosts)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    where = f"http://{shown}:{port}" + ("" if is_loopback(host) else f" (bound to {host})")
    print(f"loopml server listening on {where} with {workers} worker(s); Host names "
          f"answered: {', '.join(hosts)}", file=sys.stderr, flush=True)  # fmt: skip
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning",
                               "access_log": False}  # fmt: skip
    if workers == 1:
        uvicorn.run(create_app(workspace, settings), **options)
        return
    os.environ[SETTINGS_VARIABLE] = json.dumps({"auth": auth, "allowed_hosts": hosts})
    uvicorn.run("loopml.server.main:worker_app", factory=True, workers=workers, **options)


def worker_app() -> Any:
    """The app of one worker process (uvicorn calls it in each)."""
    data = json.loads(os.environ.get(SETTINGS_VARIABLE) or "{}")
    settings = ServerSettings(auth=bool(data.get("auth", True)),
                              allowed_hosts=tuple(data.get("allowed_hosts") or ()))  # fmt: skip
    return create_app(Workspace.current(), settings)
