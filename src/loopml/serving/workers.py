"""`loopml serve --workers N`: N processes answering one socket.

The parent binds the socket, then uvicorn's supervisor starts the workers (and restarts one
that dies). Each worker builds the same app a single-process server runs, from one environment
variable that carries the deployment, the settings and the workspace's configuration. What
the workers share:
- the socket: the kernel hands each connection to one of them;
- the prediction log: each worker writes its own batches to the store (SQLite serialises the
  writers with its busy timeout; a failed write is tried again before it counts as dropped);
- the metrics: prometheus_client's multiprocess mode, in a private folder made for this server
  and removed when it stops; whichever worker answers /metrics sums the values of all.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml.core.config import WorkspaceConfig
from loopml.serving.service import ServeSettings

WORKER_VARIABLE = "LOOPML_SERVE_WORKER"  # what the parent hands to each worker, as JSON
METRICS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client at import


def run_workers(
    config: Any,
    deployment: str,
    settings: ServeSettings,
    workspace: WorkspaceConfig,
    listening: Callable[[], Any],
) -> None:
    """Serve with `settings.workers` processes until SIGTERM or Ctrl-C; `config` is the
    uvicorn.Config of a single-process server (its app is replaced by the worker factory)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    with tempfile.TemporaryDirectory(prefix="loopml-metrics-") as metrics_dir:
        os.environ[METRICS_VARIABLE] = metrics_dir
        os.environ[WORKER_VARIABLE] = _encode(deployment, settings, workspace, config.host)
        config = uvicorn.Config(
            "loopml.serving.workers:worker_app", factory=True, host=config.host,
            port=config.port, workers=settings.workers, log_level=config.log_level,
            timeout_graceful_shutdown=config.timeout_graceful_shutdown, access_log=False,
            lifespan="on",
        )  # fmt: skip
        socket = config.bind_socket()
        listening()
        if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.50
            Multiprocess(config, target=uvicorn.Server(config).run, sockets=[socket]).run()
        else:
            Multiprocess(config, sockets=[socket]).run()


def worker_app() -> Any:
    """The app of one worker process (uvicorn calls it in each)."""
    from loopml.serving.app import create_app
    from loopml.workspace import Workspace

    deployment, settings, config, host = _decode(os.environ[WORKER_VARIABLE])
    _stop_when_orphaned(os.getppid())
    return create_app(Workspace.for_config(config), deployment, settings, host=host)


def _stop_when_orphaned(parent: int, interval: float = 1.0) -> None:
    """A worker whose supervisor died (SIGKILL, OOM) stops itself gracefully instead of
    holding the port and the prediction log as an orphan."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="loopml-orphan-watch", daemon=True).start()


def _encode(deployment: str, settings: ServeSettings, config: WorkspaceConfig, host: str) -> str:
    workspace = {k: str(v) if isinstance(v, Path) else v
                 for k, v in dataclasses.asdict(config).items()}  # fmt: skip
    return json.dumps({"deployment": deployment, "settings": dataclasses.asdict(settings),
                       "workspace": workspace, "host": host})  # fmt: skip


def _decode(text: str) -> tuple[str, ServeSettings, WorkspaceConfig, str]:
    data = json.loads(text)
    values = data["settings"]
    settings = ServeSettings(**{**values, "allowed_hosts": tuple(values["allowed_hosts"])})
    paths = ("root", "project_root")
    workspace = WorkspaceConfig(**{k: Path(v) if k in paths and v is not None else v
                                   for k, v in data["workspace"].items()})  # fmt: skip
    return data["deployment"], settings, workspace, data["host"]
