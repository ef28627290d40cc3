"""A bounded load test on loopback: steady concurrency against `loopml serve` with a 10%
canary. No 5xx, the canary's share within 2 points, every answer logged (or counted as
dropped), memory stable."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

import loopml
from tests.serving.conftest import FEATURES
from tests.serving.test_process import _model, _serve

pytestmark = pytest.mark.slow
SECONDS = float(os.environ.get("LOOPML_LOAD_SECONDS", "60"))
CONCURRENCY = 8
MAX_REQUESTS = 200_000


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _dropped(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("loopml_prediction_log_dropped "):
            return float(line.split()[1])
    raise AssertionError("no drop counter")


def test_steady_load_with_a_canary(iris_workspace, tmp_path) -> None:
    loopml.registry.register("iris", _model(), workspace=iris_workspace)
    loopml.deployments.set_canary("iris-api", "iris/2", traffic=0.1, workspace=iris_workspace)
    process, url = _serve(tmp_path, "iris-api")
    rows = FEATURES.sample(50, random_state=1).to_dict("records")
    deadline = time.monotonic() + SECONDS
    statuses: Counter[int] = Counter()
    versions: Counter[int] = Counter()

    def worker(offset: int) -> tuple[Counter[int], Counter[int]]:
        codes: Counter[int] = Counter()
        served: Counter[int] = Counter()  # per thread, merged after: no shared counter races
        with httpx.Client(base_url=url, timeout=30) as client:
            sent = 0
            while time.monotonic() < deadline and sent < MAX_REQUESTS // CONCURRENCY:
                row = rows[(offset + sent) % len(rows)]
                answer = client.post("/predict", json={"instances": [row]})
                codes[answer.status_code] += 1
                if answer.status_code == 200:
                    served[answer.json()["model_version"]] += 1
                sent += 1
        return codes, served

    try:
        rss = []
        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
            futures = [pool.submit(worker, i) for i in range(CONCURRENCY)]
            while not all(f.done() for f in futures):
                rss.append(_rss_mb(process.pid))
                time.sleep(min(5.0, max(0.5, SECONDS / 12)))
            for future in futures:
                codes, served = future.result()
                statuses.update(codes)
                versions.update(served)
        dropped = _dropped(url)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        process.kill()
    answered = statuses.get(200, 0)
    assert answered > 0 and set(statuses) == {200}, statuses
    share = versions.get(2, 0) / answered
    assert abs(share - 0.10) <= 0.02, versions
    logged = iris_workspace.store.predictions.count("iris-api")
    assert logged + dropped == answered
    settled = rss[len(rss) // 3 :]
    assert max(settled) - min(settled) < 100, rss  # MB: no growth with the request count
