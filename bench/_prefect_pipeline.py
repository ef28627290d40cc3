"""Prefect 3's side of bench/pipelines.py. Runs under the peers venv and writes JSON results.

    PREFECT_HOME=DIR PREFECT_SERVER_ALLOW_EPHEMERAL_MODE=true \
        bench/.venv-peers/bin/python bench/_prefect_pipeline.py --out FILE --warm 5

The same 20 no-op steps as loopml's linear pipeline (each takes the previous one's int and
returns it + 1), as 20 Prefect tasks called directly inside one flow. Prefect runs local and
ephemeral: no PREFECT_API_URL, so its first API client starts a temporary server in a
subprocess (SQLite under PREFECT_HOME). Timed separately: the import, the server start (the
first client), the first flow run, then `--warm` more flow runs in the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

START = time.perf_counter()
from prefect import flow, task  # noqa: E402 - timed

IMPORT_S = time.perf_counter() - START
STEPS = 20


def make_noop(index: int) -> Any:
    def noop(x: int) -> int:
        return x + 1

    noop.__name__ = noop.__qualname__ = f"s{index:02d}"
    return noop


FUNCTIONS = [make_noop(i) for i in range(1, STEPS + 1)]
TASKS = [task(fn, name=fn.__name__) for fn in FUNCTIONS]


BODY: list[float] = []  # seconds from the flow body's first task call to its last return


@flow(name="linear")
def linear(start: int = 0) -> int:
    begin = time.perf_counter()
    x = start
    for step in TASKS:
        x = step(x)  # called directly: runs now, in this thread, and returns the value
    BODY.append(time.perf_counter() - begin)
    return x


def plain(start: int = 0) -> int:
    x = start
    for fn in FUNCTIONS:
        x = fn(x)
    return x


def plain_seconds(repeats: int = 5, number: int = 20_000) -> float:
    """Median wall time of the 20 plain calls (the bound), per chain."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            plain()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def timed_flow() -> tuple[float, int]:
    start = time.perf_counter()
    value = linear()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON results file")
    parser.add_argument("--warm", type=int, default=5, help="warm flow runs after the first")
    args = parser.parse_args()

    import prefect
    from prefect.client.orchestration import get_client

    start = time.perf_counter()
    with get_client(sync_client=True) as client:  # starts the ephemeral server
        client.api_healthcheck()
        api_url = str(client.api_url)
    server_s = time.perf_counter() - start

    first_s, first_value = timed_flow()
    warm = [timed_flow() for _ in range(args.warm)]
    results = {
        "versions": {"prefect": prefect.__version__},
        "api_url": api_url,
        "prefect_home": os.environ.get("PREFECT_HOME", ""),
        "steps": STEPS,
        "import_s": IMPORT_S,
        "server_start_s": server_s,
        "first_s": first_s,
        "warm_s": [seconds for seconds, _ in warm],
        "body_first_s": BODY[0],
        "body_warm_s": BODY[1:],
        "values": [first_value, *(value for _, value in warm)],
        "plain_s": plain_seconds(),
    }
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
