"""A server down as a run ends: the run's last metrics and its end wait in a local spool and
reach the server when it is back, nothing lost and nothing doubled."""

from __future__ import annotations

from pathlib import Path

import loopml
from loopml.core.config import resolve_config
from loopml.core.entities import Metric
from loopml.server.app import ServerSettings
from loopml.tracking import spool
from loopml.workspace import Workspace
from tests.server.conftest import RunningServer


def _laptop(folder: Path, url: str, token: str) -> Workspace:
    Workspace.init(folder).close()  # a local folder for caches; the stores are the server's
    env = {"LOOPML_SERVER_URI": url, "LOOPML_TOKEN": token}
    return Workspace.from_config(resolve_config(folder, env))


def test_metrics_logged_while_the_server_is_down_arrive_once_it_is_back(tmp_path: Path) -> None:
    stored = Workspace.init(tmp_path / "server")
    token = stored.store.auth.create_token("ann", role="editor")
    server = RunningServer(stored, ServerSettings()).start()
    laptop = _laptop(tmp_path / "laptop", server.url, token)
    run = loopml.start_run(project="p", name="offline", workspace=laptop)
    for step in range(5):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    run._buffer.flush()  # five points reached the server
    server.stop()  # the server goes away mid-run
    for step in range(5, 12):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    run.end()  # cannot reach the server: spooled instead of lost
    kept = list(spool.folder(laptop).glob("*.json"))
    assert len(kept) == 1
    assert len(stored.store.runs.metric_history(run.id, "loss")) == 5
    assert stored.store.runs.get(run.id).status == "RUNNING"

    back = RunningServer(stored, ServerSettings(), port=server.port).start()
    try:
        assert spool.replay(laptop) == 1
        assert spool.replay(laptop) == 0  # sent once, then deleted
        history = stored.store.runs.metric_history(run.id, "loss")
        assert [m.step for m in history] == list(range(12))  # nothing lost, nothing doubled
        assert stored.store.runs.get(run.id).status == "FINISHED"
    finally:
        back.stop()


def test_a_file_sent_twice_is_applied_once(tmp_path: Path) -> None:
    stored = Workspace.init(tmp_path / "server")
    token = stored.store.auth.create_token("ann", role="editor")
    server = RunningServer(stored, ServerSettings()).start()
    try:
        laptop = _laptop(tmp_path / "laptop", server.url, token)
        run = stored.store.runs.create("p", "r")
        points = [Metric("acc", 0.5 + i / 100, i, run.start_time) for i in range(3)]
        path = spool.keep(laptop, run.id, points, "FINISHED", None)
        copy = path.read_bytes()
        assert spool.replay(laptop) == 1
        path.write_bytes(copy)  # as if the client crashed after sending, before deleting
        assert spool.replay(laptop) == 1
        assert len(stored.store.runs.metric_history(run.id, "acc")) == 3
    finally:
        server.stop()
