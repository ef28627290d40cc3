"""`loopml ui`: the web UI for one workspace on 127.0.0.1, with authentication off (which the
server allows on loopback only). Port 0 picks a free port; the address is printed either way."""

from __future__ import annotations

import socket
import sys

from loopml.workspace import Workspace

HOST = "127.0.0.1"


def serve_ui(workspace: Workspace, port: int = 8765) -> None:
    import uvicorn

    from loopml.server.app import ServerSettings, create_app

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, port))  # loopback only: nobody else can reach a UI without auth
    address = f"http://{HOST}:{listener.getsockname()[1]}/"
    app = create_app(workspace, ServerSettings(auth=False, allowed_hosts=(HOST, "localhost")))
    print(f"loopml UI for {workspace.root or 'the remote store'} at {address}", flush=True)
    print("(no authentication: reachable from this machine only; Ctrl-C stops it)",
          file=sys.stderr, flush=True)  # fmt: skip
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[listener])
