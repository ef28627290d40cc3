"""The model both sides of bench/registry.py store: the same forest, seed and data.

Imported by registry.py (project venv) and by _mlflow_registry.py (peers venv); needs only
scikit-learn and numpy, which both venvs hold (the same versions: compare `versions` in the
output). `fingerprint` checks that each side loads back the forest that was trained.
"""

from __future__ import annotations

import hashlib
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SEED = 0
N_TREES = 100
N_SAMPLES = 2_000
N_FEATURES = 20
MODEL = "forest"
ALIAS = "champion"


def forest_data() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=10, random_state=SEED
    )


def make_forest() -> Any:
    """A 100-tree random forest, fitted on one core so that both sides build the same one."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = forest_data()
    return RandomForestClassifier(n_estimators=N_TREES, random_state=SEED, n_jobs=1).fit(x, y)


def fingerprint(model: Any) -> str:
    """A digest of the model's class probabilities on the training rows."""
    import numpy as np

    x, _ = forest_data()
    probabilities = np.ascontiguousarray(model.predict_proba(x), dtype="float64")
    return hashlib.sha256(probabilities.tobytes()).hexdigest()[:16]


def summary(seconds: Sequence[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "n": len(ordered),
        "median_s": statistics.median(ordered),
        "p99_s": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "mean_s": statistics.fmean(ordered),
    }


Timer = Callable[[], float]  # does one thing once and returns the seconds it took


def local_timer(action: Callable[[], object]) -> Timer:
    def run() -> float:
        start = time.perf_counter()
        action()
        return time.perf_counter() - start

    return run


def interleaved(timers: dict[str, Timer], rounds: int) -> dict[str, dict[str, Any]]:
    """Each timer once (its first call, reported apart), then `rounds` rounds that run every
    timer once in turn, so that all of them see the same load on a shared machine."""
    first = {name: timer() for name, timer in timers.items()}
    times: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(rounds):
        for name, timer in timers.items():
            times[name].append(timer())
    return {
        name: {"first_s": first[name], **summary(times[name] or [first[name]])} for name in timers
    }


def cold_timer(command: list[str], cwd: Path, env: dict[str, str], prints: set[str]) -> Timer:
    """A fresh process given its start time (wall clock) as its last argument; it prints
    `SECONDS FINGERPRINT`: the time from just before it was started to the model loaded
    (interpreter start, imports, the load), then a fingerprint of the model (not timed),
    which goes into `prints`."""

    def run() -> float:
        done = subprocess.run([*command, repr(time.time())], cwd=cwd, env=env,
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"cold load failed (exit {done.returncode}): {done.stderr[-2000:]}")
        seconds, printed = done.stdout.strip().splitlines()[-1].split()
        prints.add(printed)
        return float(seconds)

    return run


# The child's side of cold_timer: its start time is argv[-1]; `load` is the code that
# imports the library and sets `model`.
COLD_TEMPLATE = """
import sys, time
{load}
elapsed = time.time() - float(sys.argv[-1])
sys.path.insert(0, {bench!r})
import _registry_data
print(f"{{elapsed:.6f}} {{_registry_data.fingerprint(model)}}")
"""


def cold_script(load: str) -> str:
    return COLD_TEMPLATE.format(load=load, bench=str(Path(__file__).resolve().parent))
