"""The server process killed (SIGKILL) in the middle of an upload: nothing partial becomes
visible, and the client's retry completes the upload once the server is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from loopml.artifacts.hashing import digest_bytes
from loopml.store.remote import RemoteClient
from loopml.workspace import Workspace
from tests.ports import free_ports

CHUNKS = 40
CHUNK = 64 << 10


def _start(folder: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "loopml", "server", "--port", str(port)], cwd=folder, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health/ready").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("the server did not start")


def test_a_server_killed_mid_upload_shows_nothing_and_the_retry_completes(tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    port = free_ports(1)[0]
    first = _start(tmp_path, port)
    token = first.stdout.readline().strip()
    data = os.urandom(CHUNKS * CHUNK)
    digest = digest_bytes(data)
    attempts: list[int] = []
    started = threading.Event()

    def slow_body() -> Iterator[bytes]:  # a fresh, slow stream for each attempt
        attempts.append(len(attempts) + 1)
        for i in range(CHUNKS):
            if i == CHUNKS // 2:
                started.set()
            if len(attempts) == 1:
                time.sleep(0.05)
            yield data[i * CHUNK : (i + 1) * CHUNK]

    client = RemoteClient(f"http://127.0.0.1:{port}", token, retries=12)  # covers a slow restart
    outcome: list[object] = []
    upload = threading.Thread(target=lambda: outcome.append(client.request(
        "PUT", f"/api/v1/blobs/{digest}", content_factory=slow_body)))  # fmt: skip
    upload.start()
    assert started.wait(30), "the upload never got going"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    stored = Workspace.open(tmp_path)
    assert not stored.artifacts.has(digest)  # half an upload is not an artifact
    second = _start(tmp_path, port)
    try:
        upload.join(timeout=120)
        assert not upload.is_alive() and outcome and outcome[0].status_code == 201
        assert len(attempts) >= 2  # the first attempt died with the server
        assert stored.artifacts.get_bytes(digest) == data
    finally:
        second.terminate()
        second.wait(timeout=30)
        client.close()
