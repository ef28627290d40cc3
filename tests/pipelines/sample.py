"""Steps and pipelines shared by the pipeline tests (importable by worker processes)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import NamedTuple

import pandas as pd

import loopml


@loopml.step
def make_frame(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame({"x": range(n), "y": [i % 2 for i in range(n)]})


class Halves(NamedTuple):
    first: pd.DataFrame
    second: pd.DataFrame


@loopml.step
def halve(frame: pd.DataFrame) -> Halves:
    k = len(frame) // 2
    return Halves(frame.iloc[:k], frame.iloc[k:])


@loopml.step
def total(frame: pd.DataFrame, scale: float = 1.0) -> float:
    run = loopml.current_run()
    assert run is not None
    run.log_metric("rows", len(frame))
    return float(frame["x"].sum()) * scale


@loopml.step
def add(a: float, b: float) -> float:
    return a + b


@loopml.step
def count(n: int) -> int:
    return n


@loopml.step
def gather(values: list[float]) -> float:
    return float(sum(values))


@loopml.pipeline
def sums(n: int = 10, scale: float = 1.0):
    halves = halve(make_frame(n=n))
    add(total(halves.first, scale=scale), total(halves.second, scale=scale))


@loopml.step
def explode(message: str = "boom") -> int:
    raise ValueError(message)


@loopml.pipeline
def failing():
    value = explode()
    add(value, 1.0)


@loopml.step(retries=1, retry_delay=0.05)
def flaky(marker: str) -> int:
    """Fails the first time (no marker file yet), succeeds on the retry."""
    path = Path(marker)
    if not path.exists():
        path.write_text("tried")
        raise RuntimeError("first attempt fails")
    return 7


@loopml.pipeline
def retried(marker: str):
    flaky(marker=marker)


@loopml.step(retries=1, retry_delay=0.05)
def die(marker: str) -> int:
    """kill -9 of its own worker on the first attempt; with `always`, on every attempt."""
    path = Path(marker)
    if marker.endswith("always") or not path.exists():
        path.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return 3


@loopml.pipeline
def dying(marker: str):
    add(die(marker=marker), 1.0)


@loopml.step
def slow(seconds: float = 60.0) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return 1


@loopml.pipeline
def sleepy(seconds: float = 60.0):
    slow(seconds=seconds)


@loopml.step
def pid(i: int) -> int:
    time.sleep(0.3)
    return os.getpid()


@loopml.pipeline
def fan_out(width: int = 4):
    gather([pid(i=i) for i in range(width)])
