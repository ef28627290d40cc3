"""A real loopml server (uvicorn on loopback, in a thread) over a SQLite workspace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loopml.core.auth import Role
from loopml.server.access import Access
from loopml.server.app import ServerSettings, create_app
from loopml.workspace import Workspace
from tests.ports import free_ports


class RunningServer:
    def __init__(
        self, workspace: Workspace, settings: ServerSettings, port: int | None = None
    ) -> None:
        import uvicorn

        self.app = create_app(workspace, settings)
        self.port = port or free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/health/ready").status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("the server did not start")

    def use(self, workspace: Workspace) -> None:
        """Serve another workspace from now on (a fresh store per test, one server)."""
        self.app.state.workspace = workspace
        self.app.state.access = Access(workspace)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workspace = Workspace.init(tmp_path_factory.mktemp("server"))
    running = RunningServer(workspace, ServerSettings()).start()
    yield running
    running.stop()


@pytest.fixture
def served(server: RunningServer, tmp_path: Path) -> Iterator[tuple[RunningServer, Workspace]]:
    """The server, now over a fresh workspace of this test's own."""
    workspace = Workspace.init(tmp_path)
    server.use(workspace)
    yield server, workspace
    workspace.close()


@pytest.fixture
def admin_token(served: tuple[RunningServer, Workspace]) -> str:
    _, workspace = served
    assert workspace.store.auth is not None
    return workspace.store.auth.create_token("admin", role=Role.ADMIN)


def call(server: RunningServer, path: str, token: str | None, **body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{server.url}{path}", json=body, headers=headers)
