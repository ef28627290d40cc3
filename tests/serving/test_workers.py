"""`loopml serve --workers N`: several processes behind one port share the prediction log
(no row lost under concurrent load) and one /metrics (summed over the workers), labels reach
predictions answered by another worker, SIGTERM stops them all, and no other server joins
their port."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import FEATURES
from tests.serving.test_process import _serve

pytestmark = pytest.mark.slow
WORKERS = 2
THREADS = 16  # connections: the kernel hashes each to a worker (all on one: 2 in 65,536)
REQUESTS = 1_200  # in all, over THREADS connections


def _workers(pid: int) -> set[int]:
    """The worker processes of a server (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()}


def _listeners(port: int) -> int:
    """How many sockets listen on the port: a worker joins only once its app has started."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    fields = [line.split() for line in lines]
    return sum(1 for f in fields if f[1].endswith(f":{port:04X}") and f[3] == "0A")


def _all_listening(url: str, count: int) -> None:
    port = int(url.rsplit(":", 1)[1])
    deadline = time.monotonic() + 60
    while _listeners(port) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _listeners(port) == count, f"{_listeners(port)} of {count} workers listen"


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, value = line.rsplit(" ", 1)
        series, _, rest = head.partition("{")
        if series == name and all(part in rest for part in wanted.split(",")):
            total += float(value)
    return total


def _send(url: str, rows: list[dict], count: int, offset: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=url, timeout=30) as client:  # one connection per thread
        for i in range(count):
            answer = client.post("/predict", json={"instances": [rows[(offset + i) % len(rows)]]})
            assert answer.status_code == 200, answer.text
            ids.extend(answer.json()["prediction_ids"])
    return ids


def test_workers_share_the_log_and_the_metrics(iris_workspace, tmp_path) -> None:
    process, url = _serve(tmp_path, "iris-api", "--workers", str(WORKERS))
    rows = FEATURES.sample(40, random_state=3).to_dict("records")
    try:
        workers = _workers(process.pid)
        assert len(workers) == WORKERS
        _all_listening(url, WORKERS)  # one ready worker answers before the other has started
        idle = {pid: _cpu_ticks(pid) for pid in workers}
        per_thread = REQUESTS // THREADS
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            batches = pool.map(_send, [url] * THREADS, [rows] * THREADS,
                               [per_thread] * THREADS, range(THREADS))  # fmt: skip
            ids = [i for batch in batches for i in batch]
        busy = {pid: _cpu_ticks(pid) - idle[pid] for pid in workers}
        assert min(busy.values()) > 0.1 * max(busy.values()), f"one worker idle: {busy}"
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert _sample(metrics, "loopml_serving_workers") == WORKERS
        answered = _sample(metrics, "loopml_requests_total", status="200")
        assert answered == REQUESTS, "every worker's requests are counted on any scrape"
        assert _sample(metrics, "loopml_request_latency_seconds_count") == REQUESTS
        # A label right after its prediction, whichever worker answered either.
        fresh = _send(url, rows, 1, 0)[0]
        feedback = httpx.post(f"{url}/feedback", json=[{"prediction_id": fresh, "label": 0}],
                              timeout=30)  # fmt: skip
        assert feedback.status_code == 200, feedback.text
        assert feedback.json()["stored"] == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        process.kill()
    stored = iris_workspace.store.predictions.query(deployment="iris-api", limit=10 * REQUESTS)
    logged = {p.id for p in stored}
    assert len(ids) == len(set(ids)) == REQUESTS
    assert set(ids) | {fresh} == logged, "no prediction lost or duplicated across workers"


def test_workers_stop_when_their_supervisor_is_killed(iris_workspace, tmp_path) -> None:
    from tests.cli.test_cli import cli

    process, url = _serve(tmp_path, "iris-api", "--workers", str(WORKERS))
    workers = _workers(process.pid)
    try:
        assert len(workers) == WORKERS
        # The workers share the port with SO_REUSEPORT; a second server must not join them.
        port = url.rsplit(":", 1)[1]
        second = cli("serve", "iris-api", "--workers", "2", "--port", port, cwd=tmp_path)
        assert second.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in second.stderr
        process.kill()  # SIGKILL: the supervisor cannot stop them itself
        process.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
            time.sleep(0.2)
        alive = [w for w in workers if Path(f"/proc/{w}").exists()]
        assert alive == [], "orphaned workers still run"
    finally:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)


def test_workers_must_be_positive(iris_workspace, tmp_path) -> None:
    from tests.cli.test_cli import cli

    done = cli("serve", "iris-api", "--workers", "0", cwd=tmp_path)
    assert done.returncode == 1 and "--workers must be at least 1" in done.stderr
