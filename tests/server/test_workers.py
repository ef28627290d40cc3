"""`loopml server` as a team deploys it: bound to every interface (clients reach it by this
machine's names), and with several worker processes over one PostgreSQL database sharing
tokens and idempotency keys."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.ports import free_ports


def _start(folder: Path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen, int]:
    port = free_ports(1)[0]
    process = subprocess.Popen(
        [sys.executable, "-m", "loopml", "server", "--port", str(port), *args], cwd=folder,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health/ready").status_code == 200:
                return process, port
        except httpx.TransportError:
            time.sleep(0.1)
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"the server did not start: {process.stderr.read()}")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return {**env, **extra}


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen]]:
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_bound_to_every_interface_it_answers_this_machines_names(tmp_path, stopped) -> None:
    subprocess.run([sys.executable, "-m", "loopml", "init"], cwd=tmp_path, env=_env(), check=True)
    process, port = _start(tmp_path, _env(), "--host", "0.0.0.0", "--allowed-host", "ml.internal")
    stopped.append(process)
    token = process.stdout.readline().strip()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"http://127.0.0.1:{port}/api/v1/projects/list"
    for name in ("127.0.0.1", "localhost", socket.gethostname(), "ml.internal"):
        answer = httpx.post(url, json={}, headers={**headers, "Host": f"{name}:{port}"})
        assert answer.status_code == 200, (name, answer.text)
    evil = httpx.post(url, json={}, headers={**headers, "Host": "evil.example.com"})
    assert evil.status_code == 400 and "evil.example.com" in evil.json()["error"]["message"]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status:
                found.append(int(entry.name))
    return found


@pytest.mark.postgres
def test_two_workers_share_tokens_and_idempotency(tmp_path, postgres_uri, stopped) -> None:
    env = _env(LOOPML_STORE_URI=postgres_uri, LOOPML_ARTIFACT_URI=str(tmp_path / "artifacts"))
    process, port = _start(tmp_path, env, "--workers", "2")
    stopped.append(process)
    token = process.stdout.readline().strip()
    assert token.startswith("lml_")
    commands = [Path(f"/proc/{p}/cmdline").read_text() for p in _children(process.pid)]
    workers = [c for c in commands if "spawn_main" in c]  # not the resource tracker
    assert len(workers) >= 2, workers
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {token}"}

    def create(key: str) -> httpx.Response:
        with httpx.Client(headers={**headers, "Idempotency-Key": key}) as fresh:  # new connection
            return fresh.post(f"{base}/runs/create", json={"kwargs": {"project": "p",
                                                                      "name": key}})  # fmt: skip

    keys = [uuid.uuid4().hex for _ in range(10)]
    with ThreadPoolExecutor(8) as pool:  # each key sent 4 times, at once, on 4 connections
        answers = list(pool.map(create, [k for k in keys for _ in range(4)]))
    assert all(a.status_code in (200, 503) for a in answers), [a.text for a in answers]
    from loopml.store import rpc

    listed = httpx.post(f"{base}/runs/search", json={"kwargs": {"projects": ["p"]}},
                        headers=headers).json()["result"]  # fmt: skip
    names = sorted(run.name for run in rpc.decode_result(listed))
    assert names == sorted(keys)  # each write applied once, whichever worker took it
    stopped.remove(process)
    process.terminate()
    assert process.wait(timeout=30) is not None
