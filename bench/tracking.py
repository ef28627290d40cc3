"""Tracking benchmark: loopml against MLflow, side by side, on SQLite stores in temp folders.

    .venv/bin/python bench/tracking.py              # default sizes (20,000 runs)
    .venv/bin/python bench/tracking.py --quick      # a smoke test in well under a minute

loopml runs in this process (the project venv); MLflow runs in a subprocess under the peers
venv (bench/.venv-peers, created from bench/requirements-peers.txt when missing) through
bench/_mlflow_tracking.py, so the two never share an environment. See bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy

import _tracking_data as data
import loopml
from loopml.core.entities import Metric, RunStatus
from loopml.workspace import Workspace

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_BIN = Path(sys.executable).parent
PEERS_VENV = BENCH_DIR / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
API_POPULATE_LIMIT_S = 180.0  # above this projected time, populate through the store interface


@dataclasses.dataclass(frozen=True)
class Sizes:
    calls: int  # loopml log_metric calls
    mlflow_calls: int  # MLflow log_metric calls (it is ~1000x slower)
    batches: int
    batch_size: int
    runs: int  # runs to search over
    api_sample: int  # loopml runs created through the public API before deciding the path
    mlflow_api_runs: int  # MLflow runs created through its API (the rest by bulk SQL)
    repeats: int  # warm repetitions of each search
    cli_repeats: int  # repetitions of the CLI call (its time varies more)


# -- loopml side ------------------------------------------------------------------------------
def loopml_log_metric(folder: Path, calls: int) -> dict[str, Any]:
    """`calls` sequential run.log_metric calls; the with-block's exit flushes them."""
    ws = Workspace.init(folder)
    values = data.metric_series(calls)
    with loopml.start_run(project="log", workspace=ws) as run:
        start = time.perf_counter()
        for step, value in enumerate(values):
            run.log_metric("loss", value, step=step)
        loop = time.perf_counter() - start
    total = time.perf_counter() - start
    stored = len(loopml.get_metric_history(run.id, "loss", workspace=ws))
    ws.close()
    return {"calls": calls, "loop_s": loop, "total_s": total, "stored": stored}


def loopml_log_metrics(folder: Path, batches: int, size: int) -> dict[str, Any]:
    """`batches` run.log_metrics calls of `size` keys each; the with-block's exit flushes."""
    ws = Workspace.init(folder)
    keys = data.batch_keys(size)
    prepared = [{key: (b * size + j) / 1e4 for j, key in enumerate(keys)} for b in range(batches)]
    with loopml.start_run(project="batch", workspace=ws) as run:
        start = time.perf_counter()
        for step, metrics in enumerate(prepared):
            run.log_metrics(metrics, step=step)
        loop = time.perf_counter() - start
    total = time.perf_counter() - start
    stored = len(loopml.get_metric_history(run.id, keys[-1], workspace=ws))
    ws.close()
    return {"metrics": batches * size, "loop_s": loop, "total_s": total, "stored": stored}


def create_runs_api(ws: Workspace, indexes: range) -> float:
    """Runs through the public API (start_run, log_params, log_metrics, end); seconds."""
    start = time.perf_counter()
    for index in indexes:
        params, metrics = data.run_values(index)
        with loopml.start_run(data.PROJECT, data.run_name(index), workspace=ws) as run:
            run.log_params(params)
            run.log_metrics(metrics)
    return time.perf_counter() - start


def create_runs_store(ws: Workspace, indexes: range) -> float:
    """Runs through the store interface (create, log_params, log_metrics, set_status)."""
    store = ws.store.runs
    start = time.perf_counter()
    for index in indexes:
        params, metrics = data.run_values(index)
        run = store.create(data.PROJECT, data.run_name(index))
        store.log_params(run.id, params)
        now = dt.datetime.now(dt.UTC)
        store.log_metrics(run.id, [Metric(k, v, 0, now) for k, v in metrics.items()])
        store.set_status(run.id, RunStatus.FINISHED)
    return time.perf_counter() - start


def loopml_populate(ws: Workspace, runs: int, sample: int) -> dict[str, Any]:
    """A sample through the public API; the rest the same way unless that would take longer
    than API_POPULATE_LIMIT_S in total, then through the store interface."""
    sample = min(sample, runs)
    api_s = create_runs_api(ws, range(sample))
    api_rate = sample / api_s
    projected = runs / api_rate
    rest = range(sample, runs)
    use_store = projected > API_POPULATE_LIMIT_S
    rest_s = create_runs_store(ws, rest) if use_store else create_runs_api(ws, rest)
    return {
        "api_runs": sample if use_store else runs,
        "api_rate": api_rate,
        "store_runs": len(rest) if use_store else 0,
        "store_rate": len(rest) / rest_s if use_store and rest_s else None,
        "projected_api_s": projected,
        "total_s": api_s + rest_s,
    }


def loopml_search(folder: Path, runs: int, sample: int, repeats: int) -> dict[str, Any]:
    ws = Workspace.init(folder)
    populated = loopml_populate(ws, runs, sample)
    ws.close()
    ws = Workspace.open(folder)  # a fresh engine: the first search opens its own connection

    def search() -> list[float]:
        found = loopml.search_runs(
            project=data.PROJECT,
            filter=data.SEARCH_FILTER,
            order_by=[data.SEARCH_ORDER],
            limit=data.SEARCH_LIMIT,
            workspace=ws,
        )
        return [run.metrics["m1"] for run in found]

    timing = data.timed_repeats(search, repeats)
    ws.close()
    top_m1 = timing.pop("result")
    return {"runs": runs, "populate": populated, **timing, "top_m1": top_m1}


def loopml_cli_ls(folder: Path, repeats: int) -> dict[str, Any]:
    """Wall time of `loopml runs ls --project bench` as a fresh process in the workspace."""
    command = [str(PROJECT_BIN / "loopml"), "runs", "ls", "--project", data.PROJECT]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}

    def run_cli() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)

    try:
        timing = data.timed_repeats(run_cli, repeats)
    except OSError as exc:
        return {"skipped": f"CLI not available ({exc})"}
    done = timing.pop("result")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"skipped": f"CLI not available (exit {done.returncode}: {last})"}
    return {**timing, "lines": len(done.stdout.splitlines())}


# -- MLflow side ------------------------------------------------------------------------------
def ensure_peers_venv() -> None:
    if PEERS_PYTHON.exists():
        return
    print(f"creating {PEERS_VENV} from requirements-peers.txt ...", file=sys.stderr)
    subprocess.run(["python3", "-m", "venv", str(PEERS_VENV)], check=True)
    requirements = BENCH_DIR / "requirements-peers.txt"
    pip = [str(PEERS_PYTHON), "-m", "pip", "install", "-q", "-r", str(requirements)]
    subprocess.run(pip, check=True)


def run_mlflow(workdir: Path, sizes: Sizes) -> dict[str, Any]:
    ensure_peers_venv()
    out = workdir / "mlflow.json"
    command = [
        str(PEERS_PYTHON),
        str(BENCH_DIR / "_mlflow_tracking.py"),
        f"--workdir={workdir / 'mlflow'}",
        f"--out={out}",
        f"--calls={sizes.mlflow_calls}",
        f"--batches={sizes.batches}",
        f"--batch-size={sizes.batch_size}",
        f"--runs={sizes.runs}",
        f"--api-runs={sizes.mlflow_api_runs}",
        f"--repeats={sizes.repeats}",
    ]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"the MLflow side failed (exit {done.returncode})")
    return json.loads(out.read_text())


# -- report -----------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def header(mlflow_versions: dict[str, str], load_before: str) -> list[str]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"date: {now}",
        f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} "
        f"{platform.release()}; load average before {load_before}, after {load_average()}",
        f"loopml {loopml.__version__} (Python {platform.python_version()}, "
        f"SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}); "
        f"MLflow {mlflow_versions['mlflow']} (SQLAlchemy {mlflow_versions['sqlalchemy']})",
    ]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def row(op: str, ours: str, theirs: str, ratio: float | None, target: str, met: str) -> list[str]:
    return [op, ours, theirs, f"{ratio:,.1f}x" if ratio else "-", target, met]


def yes_no(ok: bool) -> str:
    return "yes" if ok else "NO"


def table_rows(lm: dict[str, Any], mf: dict[str, Any], sizes: Sizes) -> list[list[str]]:
    one, batch, search = lm["log_metric"], lm["log_batch"], lm["search"]
    m_one, m_batch, m_search = mf["log_metric"], mf["log_batch"], mf["search"]
    r_one = (one["calls"] / one["total_s"]) / (m_one["calls"] / m_one["total_s"])
    r_loop = (one["calls"] / one["loop_s"]) / (m_one["calls"] / m_one["loop_s"])
    r_batch = (batch["metrics"] / batch["total_s"]) / (m_batch["metrics"] / m_batch["total_s"])
    r_search = m_search["median_s"] / search["median_s"]
    r_cold = m_search["first_s"] / search["first_s"]
    pop, m_pop = search["populate"], m_search["populate"]
    r_create = pop["api_rate"] / (m_pop["api_runs"] / m_pop["api_s"])
    batch_name = f"log {sizes.batches} x {sizes.batch_size:,} metrics, through flush"
    rows = [
        row(
            f"log_metric, {one['calls']:,} calls (MLflow {m_one['calls']:,}), through flush",
            rate(one["calls"], one["total_s"]),
            rate(m_one["calls"], m_one["total_s"]),
            r_one,
            ">= 100x",
            yes_no(r_one >= 100),
        ),
        row(
            "log_metric, the loop alone",
            rate(one["calls"], one["loop_s"]),
            rate(m_one["calls"], m_one["loop_s"]),
            r_loop,
            "-",
            "-",
        ),
        row(
            batch_name,
            rate(batch["metrics"], batch["total_s"]),
            rate(m_batch["metrics"], m_batch["total_s"]),
            r_batch,
            ">= 10x",
            yes_no(r_batch >= 10),
        ),
        row(
            f"search_runs over {search['runs']:,} runs, warm median",
            ms(search["median_s"]),
            ms(m_search["median_s"]),
            r_search,
            ">= 10x, < 200 ms",
            yes_no(r_search >= 10 and search["median_s"] < 0.2),
        ),
        row(
            "search_runs, first call",
            ms(search["first_s"]),
            ms(m_search["first_s"]),
            r_cold,
            "-",
            "-",
        ),
        row(
            "create a run via the API (start, 5 params, 10 metrics, end)",
            f"{pop['api_rate']:,.0f} runs/s",
            rate(m_pop["api_runs"], m_pop["api_s"]).replace("/s", " runs/s"),
            r_create,
            "-",
            "-",
        ),
    ]
    cli = lm["cli"]
    cli_name = (
        f"`loopml runs ls --project bench` ({search['runs']:,} runs), median of {sizes.cli_repeats}"
    )
    if "skipped" in cli:
        rows.append(row(cli_name, f"skipped: {cli['skipped']}", "-", None, "< 1 s", "-"))
    else:
        ok = cli["median_s"] < 1.0
        cli_time = (
            f"{cli['median_s']:.2f} s (first {cli['first_s']:.2f} s, "
            f"others {cli['min_s']:.2f}-{cli['max_s']:.2f} s)"
        )
        rows.append(row(cli_name, cli_time, "-", None, "< 1 s", yes_no(ok)))
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    head = ["operation", "loopml", "MLflow", "speed-up", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def notes(lm: dict[str, Any], mf: dict[str, Any], sizes: Sizes) -> list[str]:
    one, batch, search = lm["log_metric"], lm["log_batch"], lm["search"]
    pop, m_pop = search["populate"], mf["search"]["populate"]
    path = (
        "the public API"
        if not pop["store_runs"]
        else (
            f"the public API for the first {pop['api_runs']:,} "
            f"({pop['api_rate']:,.0f} runs/s; {pop['projected_api_s']:.0f} s projected for all), "
            f"then the store interface for {pop['store_runs']:,} ({pop['store_rate']:,.0f} runs/s)"
        )
    )
    agree = search["top_m1"] == mf["search"]["top_m1"]
    return [
        f"- loopml stored {one['stored']:,} of {one['calls']:,} log_metric points and "
        f"{batch['stored']} of {sizes.batches} points of the last batch key (read back after "
        "the run).",
        f"- MLflow log_metric measured on {mf['log_metric']['calls']:,} calls (it writes each "
        "call synchronously); 'through flush' includes ending the run for both tools.",
        f"- batches: loopml `run.log_metrics(dict of {sizes.batch_size:,} keys, step=b)` vs "
        f"MLflow `MlflowClient().log_batch(run_id, metrics=[{sizes.batch_size:,} Metric])`.",
        f"- loopml's {search['runs']:,} runs were created through {path}; "
        f"total {pop['total_s']:.0f} s.",
        f"- MLflow's: {m_pop['api_runs']} runs through its API ({m_pop['api_s']:.1f} s), "
        f"then {m_pop['sql_runs']:,} copies of the first run's rows (runs, tags, params, "
        f"metrics, latest_metrics) by bulk SQL ({m_pop['sql_s']:.1f} s); "
        f"{m_pop['stored_runs']:,} runs in its database.",
        "- search: `loopml.search_runs` vs `MlflowClient.search_runs` (Run entities, no "
        f"pandas); first call after populating, then the median of {sizes.repeats} more; "
        f"same data on both sides; top-100 m1 values identical: {yes_no(agree)}.",
    ]


# -- main -------------------------------------------------------------------------------------
def parse_sizes() -> Sizes:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="runs to search over")
    parser.add_argument("--calls", type=int, default=10_000, help="loopml log_metric calls")
    parser.add_argument("--mlflow-calls", type=int, default=1_000, help="MLflow log_metric calls")
    parser.add_argument("--repeats", type=int, default=5, help="warm repeats per search")
    parser.add_argument("--cli-repeats", type=int, default=10, help="repeats of the CLI call")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    args = parser.parse_args()
    if args.quick:
        return Sizes(1_000, 100, 3, 1_000, 500, 100, 5, 2, 2)
    return Sizes(
        args.calls, args.mlflow_calls, 10, 1_000, args.runs, 500, 50, args.repeats, args.cli_repeats
    )


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    sizes = parse_sizes()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="loopml-bench-tracking-") as tmp:
        workdir = Path(tmp)
        step(f"loopml: {sizes.calls:,} log_metric calls")
        lm = {"log_metric": loopml_log_metric(workdir / "log_metric", sizes.calls)}
        step(f"loopml: {sizes.batches} x {sizes.batch_size:,} log_metrics")
        lm["log_batch"] = loopml_log_metrics(workdir / "log_batch", sizes.batches, sizes.batch_size)
        step(f"loopml: populate {sizes.runs:,} runs and search")
        lm["search"] = loopml_search(
            workdir / "search", sizes.runs, sizes.api_sample, sizes.repeats
        )
        step("loopml: runs ls (CLI)")
        lm["cli"] = loopml_cli_ls(workdir / "search", sizes.cli_repeats)
        step("MLflow: the same, in the peers venv")
        mf = run_mlflow(workdir, sizes)
    print("\n".join(header(mf["versions"], load_before)))
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}\n")
    print(markdown_table(table_rows(lm, mf, sizes)))
    print("\n" + "\n".join(notes(lm, mf, sizes)))


if __name__ == "__main__":
    main()
