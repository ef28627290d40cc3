"""Drift benchmark: loopml against Evidently's DataDriftPreset and a plain SciPy loop, in one run.

    .venv/bin/python bench/drift.py              # default sizes (200,000 x 60; 1M x 1,000)
    .venv/bin/python bench/drift.py --quick      # a smoke test in about a minute

Three parts, each side in a fresh subprocess (its peak RSS from getrusage):
1. 200,000 rows x (50 numeric + 10 categorical), reference and current, half the columns
   shifted: `loopml.monitoring.compare.compare(profile, current)` against Evidently 0.7's
   `DataDriftPreset` configured with the same tests (bench/_evidently_drift.py in the peers venv,
   bench/.venv-peers) and a plain per-column SciPy loop (ks_2samp, chi2_contingency). Both read
   the same Parquet files; reads are timed apart. The drifted-column sets are compared.
2. 1,000,000 rows x 1,000 numeric columns: the reference profile computed 50 columns at a
   time and stored as JSON, then `compare_parquet` streaming the current file by column group.
3. `loopml.monitoring.check(deployment, window=10_000)` over a deployment's prediction log, in
   a fresh process and in a warm one.

The data is synthetic and seeded; everything lives in a temp folder deleted at the end. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

BENCH_DIR = Path(__file__).resolve().parent
PEERS_VENV = BENCH_DIR / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
GiB = 1 << 30
NUMERIC_TEST, CATEGORICAL_TEST, THRESHOLD = "wasserstein", "jensenshannon", 0.1
DEPLOYMENT, MODEL, DATASET = "bench-api", "bench-clf", "bench-tx"
FRESH_PROCESSES = 3


@dataclasses.dataclass(frozen=True)
class Sizes:
    rows: int  # part 1: rows of reference and of current
    numeric: int  # part 1: numeric columns
    categorical: int  # part 1: categorical columns
    repeats: int  # part 1: timed calls of compare and of the SciPy loop (median)
    evidently_repeats: int  # part 1: Evidently runs (the fastest is reported)
    big_rows: int  # part 2
    big_cols: int
    per_group: int  # part 2: columns per group
    predictions: int  # part 3: rows in the prediction log
    window: int  # part 3
    check_repeats: int  # part 3: warm checks (median)


# -- helpers ----------------------------------------------------------------------------------
def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def maxrss() -> int:
    """Peak resident set size of this process, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def worker(name: str, out: Path, *args: str, python: Path | None = None) -> dict[str, Any]:
    """Run `name` in a fresh process (this script's --worker mode, or a peer's script) and
    return the JSON it wrote, with the process's wall time."""
    if python is None:
        command = [sys.executable, __file__, "--worker", name, "--out", str(out), *args]
    else:
        command = [str(python), str(BENCH_DIR / name), "--out", str(out), *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-6000:])
        raise SystemExit(f"worker {name} failed (exit {done.returncode})")
    result = json.loads(out.read_text())
    result["process_wall_s"] = wall
    return result


def write_json(path: str, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data))


# -- part 1 data: 200,000 x (50 numeric + 10 categorical) -------------------------------------
NUMERIC_KINDS = ("normal", "lognormal", "uniform", "integer", "exponential")
NUMERIC_SHIFTS = (  # (kind of shift, size): mean shift in reference stds, or a std factor
    ("mean", 0.15), ("scale", 1.3), ("mean", 0.25), ("scale", 0.5), ("mean", 0.5),
    ("scale", 1.6), ("mean", 1.0), ("scale", 2.0),
)  # fmt: skip
CATEGORIES = (3, 5, 8, 12, 20, 30, 4, 6, 50, 10)


def numeric_column(rng: np.random.Generator, index: int, n: int, shift: tuple | None) -> Any:
    kind = NUMERIC_KINDS[index % len(NUMERIC_KINDS)]
    scale = 1.0 + index % 7
    if kind == "normal":
        mean, std = 10.0 * index, scale
        x = rng.normal(mean, std, n)
    elif kind == "lognormal":
        x = rng.lognormal(0.0, 0.5, n) * scale
        mean, std = scale * np.exp(0.125), scale * np.sqrt((np.exp(0.25) - 1) * np.exp(0.25))
    elif kind == "uniform":
        x = rng.uniform(0, 100 * scale, n)
        mean, std = 50 * scale, 100 * scale / np.sqrt(12)
    elif kind == "integer":  # an age-like integer column, shifted before rounding
        mean, std = 45.0, 15.0
        x = rng.normal(mean, std, n)
    else:
        x = rng.exponential(scale, n)
        mean, std = scale, scale
    if shift is not None:
        how, size = shift
        x = x + size * std if how == "mean" else mean + (x - mean) * size
    if kind == "integer":
        x = np.rint(np.clip(x, 0, 120)).astype(np.int64)
    values = pa.array(x)
    if index % 10 == 3:  # 1% nulls in a few columns, on both sides
        mask = rng.random(n) < 0.01
        values = pa.array(x, mask=mask)
    return values


def categorical_column(rng: np.random.Generator, index: int, n: int, shifted: bool) -> Any:
    k = CATEGORIES[index % len(CATEGORIES)]
    names = np.array([f"c{index}_v{j}" for j in range(k)], dtype=object)
    p = 1.0 / np.arange(1, k + 1)
    p /= p.sum()
    kind = ("new", "reordered")[(index // 2) % 2] if shifted else None
    if kind == "reordered":  # the rare categories become the common ones
        p = p[::-1]
    values = names[rng.choice(k, n, p=p)]
    if kind == "new":  # 20% of the rows take one of three categories the reference never saw
        new = rng.random(n) < 0.2
        values[new] = np.array([f"c{index}_new{j}" for j in range(3)], dtype=object)[
            rng.integers(0, 3, int(new.sum()))
        ]
    if index % 5 == 1:  # 1% nulls
        values[rng.random(n) < 0.01] = None
    return pa.array(values, pa.string())


def wide_truth(numeric: int, categorical: int) -> dict[str, str]:
    """column -> how its current data differs ("" when it does not): every second column."""
    truth = {}
    for i in range(numeric):
        how, size = NUMERIC_SHIFTS[(i // 2) % len(NUMERIC_SHIFTS)]
        truth[f"n{i:02d}"] = f"{how} {size:g}" if i % 2 == 0 else ""
    for i in range(categorical):
        kind = ("new categories", "reordered shares")[(i // 2) % 2]
        truth[f"c{i}"] = kind if i % 2 == 0 else ""
    return truth


def wide_table(rows: int, numeric: int, categorical: int, seed: int, current: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(numeric):
        shifted = current and i % 2 == 0
        shift = NUMERIC_SHIFTS[(i // 2) % len(NUMERIC_SHIFTS)] if shifted else None
        columns[f"n{i:02d}"] = numeric_column(rng, i, rows, shift)
    for i in range(categorical):
        columns[f"c{i}"] = categorical_column(rng, i, rows, current and i % 2 == 0)
    return pa.table(columns)


def write_wide(folder: Path, sizes: Sizes) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for name, seed, current in (("reference", 1, False), ("current", 2, True)):
        table = wide_table(sizes.rows, sizes.numeric, sizes.categorical, seed, current)
        pq.write_table(table, folder / f"{name}.parquet")
    truth = wide_truth(sizes.numeric, sizes.categorical)
    spec = {
        "numeric": [c for c in truth if c.startswith("n")],
        "categorical": [c for c in truth if c.startswith("c")],
        "truth": truth,
        "numeric_test": NUMERIC_TEST,
        "categorical_test": CATEGORICAL_TEST,
        "numeric_threshold": THRESHOLD,
        "categorical_threshold": THRESHOLD,
    }
    (folder / "spec.json").write_text(json.dumps(spec))
    return {"write_s": time.perf_counter() - start, **spec}


# -- part 1 workers ---------------------------------------------------------------------------
def work_wide_loopml(args: argparse.Namespace) -> None:
    from loopml.data.profile import profile_table
    from loopml.monitoring.compare import compare

    data = Path(args.data)
    read_s, (reference, current) = timed(
        lambda: (pq.read_table(data / "reference.parquet"), pq.read_table(data / "current.parquet"))
    )
    profile_s, profile = timed(lambda: profile_table(reference))
    first_s, result = timed(lambda: compare(profile, current))
    times = [timed(lambda: compare(profile, current))[0] for _ in range(args.repeats)]
    columns = {
        name: {"test": d.test, "statistic": d.statistic, "drifted": d.drifted}
        for name, d in result.columns.items()
    }
    quality = [f"{f.column}: {f.kind}" for f in result.quality]
    write_json(args.out, {
        "read_s": read_s, "profile_s": profile_s, "first_s": first_s, "times": times,
        "columns": columns, "quality": quality, "maxrss": maxrss(),
    })  # fmt: skip


def work_wide_scipy(args: argparse.Namespace) -> None:
    """The plain loop a user would write: pandas frames, ks_2samp per numeric column,
    chi-square on the 2 x k table of category counts per categorical column (p < 0.05)."""
    import pandas as pd
    from scipy import stats

    data = Path(args.data)
    spec = json.loads((data / "spec.json").read_text())
    read_s, (reference, current) = timed(
        lambda: (
            pd.read_parquet(data / "reference.parquet"),
            pd.read_parquet(data / "current.parquet"),
        )
    )

    def loop() -> dict[str, float]:
        pvalues = {}
        for name in spec["numeric"]:
            ref, cur = reference[name].dropna().to_numpy(), current[name].dropna().to_numpy()
            pvalues[name] = float(stats.ks_2samp(ref, cur).pvalue)
        for name in spec["categorical"]:
            counts = pd.concat(
                [reference[name].value_counts(), current[name].value_counts()], axis=1
            ).fillna(0)
            pvalues[name] = float(stats.chi2_contingency(counts.to_numpy().T)[1])
        return pvalues

    first_s, pvalues = timed(loop)
    times = [timed(loop)[0] for _ in range(args.repeats)]
    write_json(args.out, {
        "read_s": read_s, "first_s": first_s, "times": times, "pvalues": pvalues,
        "maxrss": maxrss(),
    })  # fmt: skip


# -- part 2: 1M x 1,000 numeric -------------------------------------------------------------
def big_names(cols: int) -> list[str]:
    return [f"f{j:04d}" for j in range(cols)]


def big_truth(cols: int) -> dict[str, str]:
    """Even columns shift: alternately the mean by 0.25 std and the std by a factor 1.5."""
    return {
        name: ("" if j % 2 else ("mean 0.25" if j % 4 == 0 else "scale 1.5"))
        for j, name in enumerate(big_names(cols))
    }


def work_big_write(args: argparse.Namespace) -> None:
    """Write a rows x cols float64 Parquet file in row groups of `chunk` rows, holding one
    row group in memory at a time."""
    rows, cols, chunk = args.rows, args.cols, args.chunk
    rng = np.random.default_rng(args.seed)
    names = big_names(cols)
    means = np.arange(cols, dtype=np.float64) % 17 - 8.0
    stds = 1.0 + np.arange(cols) % 5
    shift_mean = np.zeros(cols)
    scale = np.ones(cols)
    if args.current:
        even = np.arange(cols) % 2 == 0
        shift_mean[even & (np.arange(cols) % 4 == 0)] = 0.25
        scale[even & (np.arange(cols) % 4 == 2)] = 1.5
    schema = pa.schema([(name, pa.float64()) for name in names])
    start = time.perf_counter()
    # no dictionary encoding: continuous data has no repeats (pyarrow would build a dictionary
    # for every column chunk and give up, costing ~7x on writing and ~10x on reading)
    with pq.ParquetWriter(args.path, schema, use_dictionary=False) as writer:
        for offset in range(0, rows, chunk):
            n = min(chunk, rows - offset)
            block = rng.standard_normal((cols, n))  # one contiguous row per column
            block *= (stds * scale)[:, None]
            block += (means + shift_mean * stds)[:, None]
            table = pa.Table.from_arrays([pa.array(row) for row in block], schema=schema)
            writer.write_table(table, row_group_size=n)
            del table
            del block
    write_json(args.out, {"write_s": time.perf_counter() - start, "maxrss": maxrss()})


def work_big_profile(args: argparse.Namespace) -> None:
    """The reference profile, `per_group` columns at a time, merged into one Profile and
    stored as JSON (as a dataset version stores it)."""
    from loopml.core.datasets import Profile, profile_to_json
    from loopml.data.profile import profile_table

    start = time.perf_counter()
    file = pq.ParquetFile(args.path)
    names, metadata = file.schema_arrow.names, file.metadata
    columns = []
    read_s = 0.0

    def read(group: list[str]) -> pa.Table:  # memory-mapped afresh per group, as compare_parquet
        mapped = pq.ParquetFile(args.path, memory_map=True, metadata=metadata)
        try:
            return mapped.read(group)
        finally:
            mapped.close()

    for i in range(0, len(names), args.per_group):
        took, table = timed(lambda i=i: read(names[i : i + args.per_group]))
        read_s += took
        columns.extend(profile_table(table).columns)
        del table
    profile = Profile(file.metadata.num_rows, tuple(columns))
    profile_s = time.perf_counter() - start
    store_s, _ = timed(lambda: Path(args.profile).write_text(json.dumps(profile_to_json(profile))))
    write_json(args.out, {
        "profile_s": profile_s, "read_s": read_s, "store_s": store_s,
        "bytes": Path(args.profile).stat().st_size, "maxrss": maxrss(),
    })  # fmt: skip


def work_big_check(args: argparse.Namespace) -> None:
    from loopml.core.datasets import profile_from_json
    from loopml.monitoring.compare import compare_parquet

    load_s, profile = timed(lambda: profile_from_json(json.loads(Path(args.profile).read_text())))
    check_s, result = timed(
        lambda: compare_parquet(profile, args.path, columns_per_group=args.per_group)
    )
    drifted = sorted(name for name, d in result.columns.items() if d.drifted)
    write_json(args.out, {
        "load_s": load_s, "check_s": check_s, "columns": len(result.columns),
        "drifted": drifted, "max_statistic_unshifted": max(
            (d.statistic for n, d in result.columns.items() if int(n[1:]) % 2), default=None),
        "min_statistic_shifted": min(
            (d.statistic for n, d in result.columns.items() if not int(n[1:]) % 2), default=None),
        "quality": len(result.quality), "maxrss": maxrss(),
    })  # fmt: skip


# -- part 3: a deployment's prediction log ---------------------------------------------------
FEATURES = [f"x{i:02d}" for i in range(20)]


def work_predictions_setup(args: argparse.Namespace) -> None:
    """A workspace with a dataset, a model trained on it (through a run, so lineage finds the
    reference), a deployment and `predictions` logged predictions (the later half shifted)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import loopml
    from loopml.core.serving import Prediction, RouteMode
    from loopml.workspace import Workspace

    folder = Path(args.workspace)
    ws = Workspace.init(folder)
    rng = np.random.default_rng(7)
    train = pd.DataFrame(rng.normal(0, 1, (5_000, len(FEATURES))), columns=FEATURES)
    train["target"] = (train["x00"] + train["x01"] > 0).astype(int)
    train.to_parquet(folder / "train.parquet")
    loopml.datasets.add(DATASET, folder / "train.parquet", workspace=ws)
    features = train[FEATURES]
    with loopml.start_run(project="bench", workspace=ws) as run:
        run.use_dataset(DATASET, 1)
        model = LogisticRegression(max_iter=500).fit(features, train["target"])
        loopml.registry.register(MODEL, model, input_example=features.head(), workspace=ws)
    loopml.deployments.create(DEPLOYMENT, f"{MODEL}/1", workspace=ws)

    n = args.predictions
    live = pd.DataFrame(rng.normal(0, 1, (n, len(FEATURES))), columns=FEATURES)
    live.iloc[n // 2 :, :5] += 0.5  # the later half drifts on five features
    outputs = model.predict(live)
    now = dt.datetime.now(dt.UTC)
    records = live.to_dict("records")
    start = time.perf_counter()
    for offset in range(0, n, 1_000):
        ws.store.predictions.log([
            Prediction(f"{i:032x}", DEPLOYMENT, MODEL, 1, RouteMode.PRIMARY,
                       now - dt.timedelta(milliseconds=n - i), records[i], int(outputs[i]), 1.0)
            for i in range(offset, min(n, offset + 1_000))
        ])  # fmt: skip
    log_s = time.perf_counter() - start
    first_s, report = timed(
        lambda: loopml.monitoring.check(DEPLOYMENT, window=args.window, workspace=ws)
    )
    write_json(args.out, {
        "log_s": log_s, "logged": ws.store.predictions.count(DEPLOYMENT),
        "first_check_s": first_s, "drifted": sorted(report.drifted_columns),
    })  # fmt: skip
    ws.close()


def work_predictions_check(args: argparse.Namespace) -> None:
    """A fresh process: import loopml, open the workspace, check; then warm checks."""
    start = time.perf_counter()
    import loopml
    from loopml.workspace import Workspace

    import_s = time.perf_counter() - start
    open_s, ws = timed(lambda: Workspace.open(Path(args.workspace)))

    def check() -> Any:
        return loopml.monitoring.check(DEPLOYMENT, window=args.window, workspace=ws)

    fresh_s, report = timed(check)
    since_start_s = time.perf_counter() - start
    times = [timed(check)[0] for _ in range(args.repeats)]

    from loopml.monitoring.window import read_window

    read_times = [
        timed(lambda: read_window(ws, DEPLOYMENT, last=args.window))[0] for _ in range(args.repeats)
    ]
    write_json(args.out, {
        "import_s": import_s, "open_s": open_s, "fresh_s": fresh_s,
        "since_start_s": since_start_s, "times": times, "read_times": read_times,
        "current_rows": report.current_rows, "drifted": sorted(report.drifted_columns),
        "prediction_drift": report.prediction_drift is not None, "maxrss": maxrss(),
    })  # fmt: skip
    ws.close()


def work_imports(args: argparse.Namespace) -> None:
    """What a fresh process pays before any loopml code: numpy, pyarrow, and pandas, which
    pyarrow imports on its first conversion when pandas is installed."""
    import_s, _ = timed(lambda: (__import__("pyarrow.compute"), __import__("pandas")))
    write_json(args.out, {"import_s": import_s})


WORKERS = {
    "wide-loopml": work_wide_loopml,
    "wide-scipy": work_wide_scipy,
    "big-write": work_big_write,
    "big-profile": work_big_profile,
    "big-check": work_big_check,
    "predictions-setup": work_predictions_setup,
    "predictions-check": work_predictions_check,
    "imports": work_imports,
}


# -- the driver -------------------------------------------------------------------------------
def ensure_peers_venv() -> None:
    if PEERS_PYTHON.exists():
        return
    step(f"creating {PEERS_VENV} from requirements-peers.txt ...")
    subprocess.run(["python3", "-m", "venv", str(PEERS_VENV)], check=True)
    requirements = BENCH_DIR / "requirements-peers.txt"
    pip = [str(PEERS_PYTHON), "-m", "pip", "install", "-q", "-r", str(requirements)]
    subprocess.run(pip, check=True)


def part_wide(tmp: Path, sizes: Sizes, evidently: bool) -> dict[str, Any]:
    data = tmp / "wide"
    shape = f"{sizes.rows:,} x ({sizes.numeric} numeric + {sizes.categorical} categorical)"
    step(f"part 1: writing {shape}, reference and current, to Parquet")
    spec = write_wide(data, sizes)
    repeats = str(sizes.repeats)
    step("part 1: loopml (profile once, then compare)")
    lm = worker("wide-loopml", tmp / "wide-loopml.json", "--data", str(data), "--repeats", repeats)
    step("part 1: SciPy loop")
    sp = worker("wide-scipy", tmp / "wide-scipy.json", "--data", str(data), "--repeats", repeats)
    ev = None
    if evidently:
        ensure_peers_venv()
        step("part 1: Evidently DataDriftPreset (same tests), in the peers venv")
        ev = worker("_evidently_drift.py", tmp / "wide-evidently.json", "--data", str(data),
                    "--repeats", str(sizes.evidently_repeats), python=PEERS_PYTHON)  # fmt: skip
    return {"spec": spec, "loopml": lm, "scipy": sp, "evidently": ev}


def part_big(tmp: Path, sizes: Sizes) -> dict[str, Any]:
    ref, cur, profile = tmp / "big-reference.parquet", tmp / "big-current.parquet", tmp / "p.json"
    chunk = str(max(1, min(sizes.big_rows, 100_000)))
    written = {}
    for name, path, seed, current in (
        ("reference", ref, 11, []),
        ("current", cur, 12, ["--current"]),
    ):
        step(f"part 2: writing {sizes.big_rows:,} x {sizes.big_cols:,} float64 ({name})")
        written[name] = worker(
            "big-write", tmp / f"big-write-{name}.json", "--path", str(path),
            "--rows", str(sizes.big_rows), "--cols", str(sizes.big_cols), "--chunk", chunk,
            "--seed", str(seed), *current,
        )  # fmt: skip
    per_group = str(sizes.per_group)
    step(f"part 2: reference profile, {sizes.per_group} columns at a time")
    prof = worker("big-profile", tmp / "big-profile.json", "--path", str(ref),
                  "--profile", str(profile), "--per-group", per_group)  # fmt: skip
    step("part 2: check, compare_parquet streaming column groups")
    check = worker("big-check", tmp / "big-check.json", "--path", str(cur),
                   "--profile", str(profile), "--per-group", per_group)  # fmt: skip
    sizes_on_disk = {"reference": ref.stat().st_size, "current": cur.stat().st_size}
    return {"written": written, "profile": prof, "check": check, "bytes": sizes_on_disk,
            "truth": big_truth(sizes.big_cols)}  # fmt: skip


def part_predictions(tmp: Path, sizes: Sizes) -> dict[str, Any]:
    folder = tmp / "workspace"
    step(f"part 3: workspace, model, deployment, {sizes.predictions:,} logged predictions")
    setup = worker(
        "predictions-setup", tmp / "pred-setup.json", "--workspace", str(folder),
        "--predictions", str(sizes.predictions), "--window", str(sizes.window),
    )  # fmt: skip
    step(f"part 3: check(window={sizes.window:,}) in {FRESH_PROCESSES} fresh processes, then warm")
    once = ["--workspace", str(folder), "--window", str(sizes.window), "--repeats", "0"]
    fresh = [
        worker("predictions-check", tmp / f"pred-fresh-{i}.json", *once)
        for i in range(FRESH_PROCESSES)
    ]
    check = worker(
        "predictions-check", tmp / "pred-check.json", "--workspace", str(folder),
        "--window", str(sizes.window), "--repeats", str(sizes.check_repeats),
    )  # fmt: skip
    imports = worker("imports", tmp / "imports.json")
    return {"setup": setup, "fresh": fresh, "check": check, "imports": imports}


# -- report -----------------------------------------------------------------------------------
def secs(s: float) -> str:
    return f"{s * 1000:,.0f} ms" if s < 1 else f"{s:,.2f} s"


def gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB"


def ratio(theirs: float | None, ours: float) -> str:
    return f"{theirs / ours:,.1f}x" if theirs else "-"


def met(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def wide_rows(wide: dict[str, Any], sizes: Sizes) -> tuple[list[list[str]], list[str]]:
    lm, sp, ev, spec = wide["loopml"], wide["scipy"], wide["evidently"], wide["spec"]
    ours = statistics.median(lm["times"])
    scipy_s = statistics.median(sp["times"])
    ev_s = min(r["total_s"] for r in ev["runs"]) if ev else None
    end_to_end = lm["profile_s"] + lm["first_s"]
    shape = f"{sizes.rows:,} x ({sizes.numeric}+{sizes.categorical})"
    speed_ok = (ev_s is None or ev_s / ours >= 50) and scipy_s / ours >= 2
    rows = [
        [f"{shape}: compare(stored profile, current), median of {sizes.repeats}",
         secs(ours), secs(ev_s) if ev_s else "-", secs(scipy_s), ratio(ev_s, ours),
         ratio(scipy_s, ours), ">= 50x Evidently, >= 2x SciPy", met(speed_ok)],
        [f"{shape}: compare, first call in the process", secs(lm["first_s"]), "-",
         secs(sp["first_s"]), "-", ratio(sp["first_s"], lm["first_s"]), "-", "-"],
        [f"{shape}: end to end, profile reference + compare", secs(end_to_end),
         secs(ev_s) if ev_s else "-", secs(scipy_s), ratio(ev_s, end_to_end),
         ratio(scipy_s, end_to_end), "-", "-"],
        [f"{shape}: reference profile (one-time, stored with the dataset version)",
         secs(lm["profile_s"]), "-", "-", "-", "-", "-", "-"],
    ]  # fmt: skip
    notes = []
    if ev:
        agree, lines = drift_agreement(lm["columns"], ev["columns"], spec["truth"])
        drifted_lm = sum(c["drifted"] for c in lm["columns"].values())
        drifted_ev = sum(c["drifted"] for c in ev["columns"].values())
        rows.append([
            f"{shape}: drifted columns, same tests (wasserstein / jensenshannon, 0.1)",
            f"{drifted_lm} of {len(lm['columns'])}", f"{drifted_ev} of {len(ev['columns'])}",
            "-", "-", "-", "same set as Evidently", met(agree),
        ])  # fmt: skip
        notes += lines
        run = min(ev["runs"], key=lambda r: r["total_s"])
        notes.append(
            f"- Evidently {ev['versions']['evidently']} (pandas {ev['versions']['pandas']}): "
            f"{secs(run['datasets_s'])} in `Dataset.from_pandas` x 2 + {secs(run['run_s'])} in "
            f"`Report.run` (fastest of {len(ev['runs'])}: "
            + ", ".join(secs(r["total_s"]) for r in ev["runs"])
            + f"); import {secs(ev['import_s'])}, reading the two Parquet files into pandas "
            f"{secs(ev['read_s'])}; peak RSS {gib(ev['maxrss_kib'] * 1024)}; its "
            f"DriftedColumnsCount: {ev['drifted_count']}."
        )
    if ev:
        notes.append(per_column(lm["columns"], ev["columns"], spec["truth"]))
    truth = spec["truth"]
    sp_drifted = {n for n, p in sp["pvalues"].items() if p < 0.05}
    shifted = {n for n, how in truth.items() if how}
    notes.append(
        f"- loopml: reading the two Parquet files (pyarrow) {secs(lm['read_s'])}; compare times "
        + ", ".join(secs(t) for t in lm["times"])
        + f"; peak RSS {gib(lm['maxrss'])}; quality findings: {quality_summary(lm['quality'])}."
    )
    notes.append(
        f"- SciPy loop (ks_2samp, chi2_contingency; p < 0.05): reading into pandas "
        f"{secs(sp['read_s'])}; loop times "
        + ", ".join(secs(t) for t in sp["times"])
        + f"; peak RSS {gib(sp['maxrss'])}; flags {len(sp_drifted)} columns, "
        f"{len(sp_drifted & shifted)} of the {len(shifted)} shifted ones "
        f"(unshifted flagged: {', '.join(sorted(sp_drifted - shifted)) or 'none'})."
    )
    lm_drifted = {n for n, c in lm["columns"].items() if c["drifted"]}
    notes.append(
        f"- Ground truth: {len(shifted)} of {len(truth)} columns shifted; loopml flags "
        f"{len(lm_drifted & shifted)} of them and {len(lm_drifted - shifted)} unshifted ones"
        + (f" ({', '.join(sorted(lm_drifted - shifted))})" if lm_drifted - shifted else "")
        + (f"; missed: {', '.join(sorted(shifted - lm_drifted))}" if shifted - lm_drifted else "")
        + "."
    )
    return rows, notes


def per_column(ours: dict[str, Any], theirs: dict[str, Any], truth: dict[str, str]) -> str:
    """Every column: loopml's statistic / Evidently's, its shift, * when drifted (loopml)."""
    cells = [
        f"{name} {ours[name]['statistic']:.4f}/{theirs[name]['statistic']:.4f}"
        f"{'*' if ours[name]['drifted'] else ''} ({truth.get(name) or '-'})"
        for name in ours
        if name in theirs
    ]
    lines = ["; ".join(cells[i : i + 5]) for i in range(0, len(cells), 5)]
    return (
        "- Per column, loopml / Evidently statistic (* drifted), with the shift made:\n  "
        + "\n  ".join(lines)
    )


def quality_summary(findings: list[str]) -> str:
    kinds: dict[str, int] = {}
    for finding in findings:
        kind = finding.rsplit(": ", 1)[-1]
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{n} x {kind}" for kind, n in sorted(kinds.items())) or "none"


def drift_agreement(
    ours: dict[str, Any], theirs: dict[str, Any], truth: dict[str, str]
) -> tuple[bool, list[str]]:
    lines = []
    differ = [n for n in ours if n in theirs and ours[n]["drifted"] != theirs[n]["drifted"]]
    missing = sorted(set(ours) ^ set(theirs))
    for name in differ:
        lines.append(
            f"- DISAGREEMENT {name} ({truth.get(name) or 'unshifted'}): loopml "
            f"{ours[name]['test']} {ours[name]['statistic']:.4f} drifted={ours[name]['drifted']}, "
            f"Evidently {theirs[name]['method']} {theirs[name]['statistic']:.4f} "
            f"drifted={theirs[name]['drifted']}"
        )
    if missing:
        lines.append(f"- columns tested by one side only: {', '.join(missing)}")
    gaps = {n: abs(ours[n]["statistic"] - theirs[n]["statistic"]) for n in ours if n in theirs}
    if gaps:
        worst = max(gaps, key=lambda n: gaps[n])
        num = [g for n, g in gaps.items() if ours[n]["test"] == NUMERIC_TEST]
        cat = [g for n, g in gaps.items() if ours[n]["test"] == CATEGORICAL_TEST]
        lines.append(
            f"- Statistics, loopml vs Evidently, largest absolute difference: numeric "
            f"{max(num, default=0):.2e}, categorical {max(cat, default=0):.2e} (worst {worst}: "
            f"{ours[worst]['statistic']:.5f} vs {theirs[worst]['statistic']:.5f}); closest to "
            f"the 0.1 threshold: " + closest(ours, theirs)
        )
    return not differ and not missing, lines


def closest(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    names = sorted(ours, key=lambda n: abs(ours[n]["statistic"] - THRESHOLD))[:3]
    return ", ".join(
        f"{n} {ours[n]['statistic']:.4f} vs {theirs[n]['statistic']:.4f}"
        for n in names
        if n in theirs
    )


def big_rows(big: dict[str, Any], sizes: Sizes) -> tuple[list[list[str]], list[str]]:
    check, prof = big["check"], big["profile"]
    shape = f"{sizes.big_rows:,} x {sizes.big_cols:,} numeric"
    ok = check["check_s"] < 60 and check["maxrss"] < 4 * GiB
    truth = big["truth"]
    shifted = {n for n, how in truth.items() if how}
    drifted = set(check["drifted"])
    rows = [
        [f"{shape}: check, compare_parquet by {sizes.per_group} columns",
         f"{secs(check['check_s'])}, peak {gib(check['maxrss'])}", "-", "-", "-", "-",
         "< 60 s, < 4 GiB", met(ok)],
        [f"{shape}: reference profile by {sizes.per_group} columns (one-time)",
         f"{secs(prof['profile_s'])}, peak {gib(prof['maxrss'])}", "-", "-", "-", "-", "-", "-"],
    ]  # fmt: skip
    notes = [
        f"- {shape}: Parquet files of {gib(big['bytes']['reference'])} (reference) and "
        f"{gib(big['bytes']['current'])} (current), float64, snappy, plain encoding (no "
        f"dictionary), row groups of 100,000 rows, written in "
        f"{secs(big['written']['reference']['write_s'])} and "
        f"{secs(big['written']['current']['write_s'])}. The check's time includes reading the "
        f"file (from the page cache: it was just written); loading the stored profile JSON "
        f"({gib(prof['bytes'])}) took {secs(check['load_s'])} more. The profile's time "
        f"includes {secs(prof['read_s'])} of reading; storing it as JSON {secs(prof['store_s'])}.",
        f"- {shape}: {check['columns']:,} columns tested, {len(drifted)} drifted: "
        f"{len(drifted & shifted)} of the {len(shifted)} shifted, "
        f"{len(drifted - shifted)} unshifted; normed Wasserstein of the unshifted columns at "
        f"most {check['max_statistic_unshifted']:.4f}, of the shifted at least "
        f"{check['min_statistic_shifted']:.4f}.",
    ]
    return rows, notes


def prediction_rows(pred: dict[str, Any], sizes: Sizes) -> tuple[list[list[str]], list[str]]:
    setup, check, fresh_runs = pred["setup"], pred["check"], pred["fresh"]
    warm = statistics.median(check["times"])
    fresh = statistics.median(run["fresh_s"] for run in fresh_runs)
    name = f"check(deployment, window={sizes.window:,}), {len(FEATURES)} features"
    rows = [
        [f"{name}: fresh process, median of {len(fresh_runs)} processes (the call, "
         "including reading the log)", secs(fresh), "-", "-", "-", "-", "< 1 s",
         met(fresh < 1)],
        [f"{name}: warm, median of {sizes.check_repeats}", secs(warm), "-", "-", "-", "-",
         "< 1 s", met(warm < 1)],
    ]  # fmt: skip
    notes = [
        f"- Prediction log: {setup['logged']:,} rows logged through "
        f"`workspace.store.predictions.log` in {secs(setup['log_s'])}; the window holds "
        f"{check['current_rows']:,}. The very first check of this model ever (it also "
        f"predicts on the reference dataset once, then caches those outputs) took "
        f"{secs(setup['first_check_s'])}.",
        "- Fresh processes (`import loopml`, `Workspace.open`, one check; the first call "
        "imports numpy, pyarrow and the monitoring modules): check "
        + ", ".join(secs(r["fresh_s"]) for r in fresh_runs)
        + "; from the first import to the report "
        + ", ".join(secs(r["since_start_s"]) for r in fresh_runs)
        + "; whole process with Python's start "
        + ", ".join(secs(r["process_wall_s"]) for r in fresh_runs)
        + f". Importing numpy, pyarrow and pandas alone takes {secs(pred['imports']['import_s'])}"
        " in a fresh process (pyarrow imports pandas on its first conversion). Warm checks: "
        + ", ".join(secs(t) for t in check["times"])
        + "; reading the window alone (`read_window`): "
        + ", ".join(secs(t) for t in check["read_times"])
        + f". Drifted: {', '.join(check['drifted']) or 'none'}; prediction drift "
        f"{'computed' if check['prediction_drift'] else 'missing'}.",
    ]
    return rows, notes


def markdown_table(rows: list[list[str]]) -> str:
    head = ["operation", "loopml", "Evidently", "SciPy loop", "vs Evidently", "vs SciPy",
            "target", "met"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def header(load_before: str) -> list[str]:
    import scipy

    import loopml

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"date: {now}",
        f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} "
        f"{platform.release()}; load average before {load_before}, after {load_average()}",
        f"loopml {loopml.__version__} from {Path(loopml.__file__).parent} (Python "
        f"{platform.python_version()}, numpy {np.__version__}, pyarrow {pa.__version__}, "
        f"scipy {scipy.__version__})",
    ]


# -- main -------------------------------------------------------------------------------------
def parse() -> tuple[argparse.Namespace, Sizes]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="part 1 rows")
    parser.add_argument("--repeats", type=int, default=5, help="part 1 timed repeats")
    parser.add_argument("--evidently-repeats", type=int, default=2)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--big-cols", type=int, default=1_000)
    parser.add_argument("--columns-per-group", type=int, default=50)
    parser.add_argument("--predictions", type=int, default=12_000, help="rows in the log")
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--check-repeats", type=int, default=5)
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--skip", action="append", default=[], choices=["wide", "big", "log"])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    parser.add_argument("--tmp", help="folder for the temp data (default: the system's)")
    # worker mode (internal)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    for name in ("out", "data", "path", "profile", "workspace"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    for name in ("cols", "chunk", "seed", "per-group"):
        parser.add_argument(f"--{name}", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--current", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        sizes = Sizes(20_000, 50, 10, 3, 1, 100_000, 100, 50, 12_000, 10_000, 3)
    else:
        sizes = Sizes(args.rows, 50, 10, args.repeats, args.evidently_repeats, args.big_rows,
                      args.big_cols, args.columns_per_group, args.predictions, args.window,
                      args.check_repeats)  # fmt: skip
    return args, sizes


def main() -> None:
    args, sizes = parse()
    if args.worker:
        WORKERS[args.worker](args)
        return
    load_before = load_average()
    rows: list[list[str]] = []
    notes: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="loopml-bench-drift-", dir=args.tmp) as tmp:
        if "wide" not in args.skip:
            more_rows, more_notes = wide_rows(part_wide(Path(tmp), sizes, not args.no_evidently),
                                              sizes)  # fmt: skip
            rows += more_rows
            notes += more_notes
        if "big" not in args.skip:
            more_rows, more_notes = big_rows(part_big(Path(tmp), sizes), sizes)
            rows += more_rows
            notes += more_notes
        if "log" not in args.skip:
            more_rows, more_notes = prediction_rows(part_predictions(Path(tmp), sizes), sizes)
            rows += more_rows
            notes += more_notes
    print("\n".join(header(load_before)))
    command = " ".join([os.path.relpath(sys.executable), *sys.argv])
    print(f"command: {command} ({time.perf_counter() - started:,.0f} s wall)\n")
    print(markdown_table(rows))
    print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
