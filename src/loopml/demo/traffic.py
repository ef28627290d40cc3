"""The demo's live side: a real server on loopback, clients sending requests, labels coming back."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import pandas as pd

from loopml.core.errors import LoopmlError
from loopml.demo.data import FEATURES, LABEL
from loopml.workspace import Workspace

READY_TIMEOUT = 30.0


class DemoServer:
    """`loopml serve` in a thread of this process: uvicorn on 127.0.0.1, a free port."""

    def __init__(self, workspace: Workspace, deployment: str) -> None:
        import uvicorn

        from loopml.serving.app import create_app
        from loopml.serving.service import ServeSettings

        self.deployment = deployment
        self.app = create_app(workspace, deployment, ServeSettings(watch_interval=0.2))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="on")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="loopml-demo-serve",
                                       daemon=True)  # fmt: skip
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def start(self) -> DemoServer:
        self.thread.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if self.client.get("/v2/health/ready").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise LoopmlError(f"the demo server on {self.url} did not become ready")

    def wait_for_revision(self, revision: int, timeout: float = 10.0) -> None:
        """Until the server has loaded the deployment's routes as of `revision`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            table = self.app.state.service.table
            if table is not None and table.revision >= revision:
                return
            time.sleep(0.05)
        raise LoopmlError(f"the server did not load revision {revision} of {self.deployment}")

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)


def send(server: DemoServer, frame: pd.DataFrame, *, batch: int = 10) -> list[str]:
    """Ask for predictions on `frame`, `batch` rows a request; then send the true labels back
    (as an application would once it learns them). Returns the prediction ids."""
    ids: list[str] = []
    feedback: list[dict[str, Any]] = []
    rows = frame[FEATURES].to_dict("records")
    labels = frame[LABEL].tolist()
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        response = server.client.post("/predict", json={"instances": chunk})
        if response.status_code != 200:
            raise LoopmlError(f"the demo server answered {response.status_code}: {response.text}")
        answer = response.json()["prediction_ids"]
        ids += answer
        truth = labels[start : start + batch]
        pairs = zip(answer, truth, strict=True)
        feedback += [{"prediction_id": i, "label": int(y)} for i, y in pairs]
    for start in range(0, len(feedback), 500):
        response = server.client.post("/feedback", json=feedback[start : start + 500])
        if response.status_code != 200:
            raise LoopmlError(f"feedback failed with {response.status_code}: {response.text}")
    server.app.state.service.logger.flush()
    return ids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
