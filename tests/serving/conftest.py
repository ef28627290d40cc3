"""A real server on loopback: uvicorn in a thread, serving a deployment of a real model."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.serving.service import ServeSettings
from loopml.workspace import Workspace


def iris_frame() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    return frame


FEATURES = iris_frame().drop(columns=["target"])


@pytest.fixture
def iris_workspace(workspace: Workspace) -> Workspace:
    frame = iris_frame()
    model = LogisticRegression(max_iter=500).fit(FEATURES, frame["target"])
    loopml.registry.register("iris", model, input_example=FEATURES.head(), workspace=workspace)
    loopml.registry.set_alias("iris", "champion", 1, workspace=workspace)
    loopml.deployments.create("iris-api", "iris@champion", workspace=workspace)
    return workspace


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Running:
    def __init__(self, server: Any, thread: threading.Thread, url: str, app: Any) -> None:
        self.server, self.thread, self.url, self.app = server, thread, url, app
        self.client = httpx.Client(base_url=url, timeout=30)

    @property
    def service(self) -> Any:
        return self.app.state.service

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def start_server() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(
        workspace: Workspace,
        deployment: str = "iris-api",
        *,
        bind: str = "127.0.0.1",
        **options: Any,
    ) -> Running:
        """`bind`: the address the app believes it is bound to (it decides the Host names it
        answers); the server itself always listens on loopback."""
        import uvicorn

        from loopml.serving.app import create_app

        app = create_app(workspace, deployment, ServeSettings(**options), host=bind)
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running = Running(server, thread, f"http://127.0.0.1:{port}", app)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if running.client.get("/v2/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("the server never became ready")
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
