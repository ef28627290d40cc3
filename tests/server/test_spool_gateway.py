"""Issue 14.6: a gateway in front of the server answers 429/502/503/504 as a run ends; after the
client's retries the run's last metrics and its end go to the spool (as for a refused
connection), and reach the server once it is back."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import loopml
from loopml.core.config import resolve_config
from loopml.core.errors import StoreUnavailableError
from loopml.server.app import ServerSettings
from loopml.store.remote import RemoteClient
from loopml.tracking import spool
from loopml.workspace import Workspace
from tests.server.conftest import RunningServer

pytestmark = pytest.mark.security


@contextmanager
def gateway(port: int, status: int) -> Iterator[list[str]]:
    """A stand-in for a proxy whose upstream is down: every request gets `status`, with a
    plain-text body (as nginx sends), never a loopml JSON error."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(self.path)
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            body = f"<html>{status} upstream unavailable</html>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *args: object) -> None:
            return None

    http.server.ThreadingHTTPServer.allow_reuse_address = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_client_gives_up_on_a_retryable_answer_as_unavailable(status: int) -> None:
    from tests.ports import free_ports

    port = free_ports(1)[0]
    with gateway(port, status) as seen:
        client = RemoteClient(f"http://127.0.0.1:{port}", "t", retries=2)
        with pytest.raises(StoreUnavailableError, match=str(status)):
            client.call("runs", "get", {"run_id": "x"})
        client.close()
    assert len(seen) == 3  # tried, retried twice, then gave up as unavailable


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_run_ending_behind_a_failing_gateway_is_spooled_and_sent_later(
    tmp_path: Path, status: int
) -> None:
    stored = Workspace.init(tmp_path / "server")
    token = stored.store.auth.create_token("ann", role="editor")
    server = RunningServer(stored, ServerSettings()).start()
    Workspace.init(tmp_path / "laptop").close()
    env = {"LOOPML_SERVER_URI": server.url, "LOOPML_TOKEN": token}
    laptop = Workspace.from_config(resolve_config(tmp_path / "laptop", env))
    laptop.store.client.retries = 1  # type: ignore[attr-defined]
    run = loopml.start_run(project="p", name="behind-a-proxy", workspace=laptop)
    run.log_metric("loss", 1.0, step=0)
    run.flush()
    server.stop()
    with gateway(server.port, status):
        run.log_metric("loss", 0.5, step=1)
        run.end()  # the gateway answers `status` to every attempt: spooled, not lost
    assert len(list(spool.folder(laptop).glob("*.json"))) == 1
    assert stored.store.runs.get(run.id).status == "RUNNING"

    back = RunningServer(stored, ServerSettings(), port=server.port).start()
    try:
        assert spool.replay(laptop) == 1
        assert [m.step for m in stored.store.runs.metric_history(run.id, "loss")] == [0, 1]
        assert stored.store.runs.get(run.id).status == "FINISHED"
    finally:
        back.stop()
        laptop.close()
