"""Serving with several workers: `loopml serve --workers N` against `mlflow models serve
--workers N` and a bare Starlette endpoint under `uvicorn --workers N`, N = 1, 2, 4.

    .venv/bin/python bench/serving_workers.py              # 10 s per measurement, ~6 minutes
    .venv/bin/python bench/serving_workers.py --quick      # 3 s per measurement

The models, servers and wrk script are bench/serving.py's (iris LogisticRegression, a
100-round XGBoost classifier; one row per request). Unlike serving.py, the servers may use
both CPUs (`taskset -c 0,1`) so that workers can scale; wrk (one thread, 16 connections)
is pinned to CPU 1 and so competes with them: on this 2-CPU machine 2 workers is the most
that can help, and 4 shows the cost of oversubscription. Prints req/s and p99 per model,
server and worker count, the ratio to MLflow at the same worker count and each server's
scaling over its own 1 worker.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import _serving_models as models
import serving

SERVERS = ("loopml", "mlflow", "bare")
SERVER_CPUS = "0,1"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per measurement")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each (2)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--models", default=",".join(models.MODELS))
    parser.add_argument("--servers", default=",".join(SERVERS))
    args = parser.parse_args()
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup or (1.0 if args.quick else 2.0)
    args.worker_counts = [int(w) for w in args.workers.split(",")]
    args.model_list = [m for m in args.models.split(",") if m]
    args.server_list = [s for s in args.servers.split(",") if s]
    return args


def run(args: argparse.Namespace, workdir: Path) -> tuple[dict[tuple[str, str, int], Any], Any]:
    serving.step("loopml: register the models and deployments")
    ours = serving.loopml_workspace(workdir / "loopml")
    serving.step("MLflow: log the same models (peers venv)")
    mlflow = serving.mlflow_models(workdir)
    results: dict[tuple[str, str, int], Any] = {}
    for kind in args.model_list:
        for workers in args.worker_counts:
            for name in args.server_list:  # one server at a time: they share the CPUs
                server = serving.start_server(name, kind, ours[kind][models.REQUEST_ROW], workdir,
                                              mlflow, args, workers, SERVER_CPUS)  # fmt: skip
                try:
                    serving.step(f"{kind} {name} x{workers}: ready in "
                                 f"{serving.wait_ready(server):.1f} s")  # fmt: skip
                    result = serving.measure(server, args.connections, args)
                finally:
                    server.stop()
                results[(kind, name, workers)] = result
                serving.step(f"  {result['rps']:,.0f} requests/s, CPU {result['cpu_ms']:.2f} "
                             f"ms/request, p99 "
                             f"{result['p99_us'] / 1000:.2f} ms, errors {result['errors']}"
                             + (f", log drops {result['dropped']:,.0f}"
                                if "dropped" in result else ""))  # fmt: skip
    return results, mlflow


def table(results: dict[tuple[str, str, int], Any], args: argparse.Namespace) -> str:
    lines = ["| model | server | workers | req/s | p99 ms | CPU ms/request | errors | "
             "vs MLflow (req/s) | vs own 1 worker |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for kind in args.model_list:
        for name in args.server_list:
            for workers in args.worker_counts:
                r = results.get((kind, name, workers))
                if r is None:
                    continue
                peer = results.get((kind, "mlflow", workers))
                own = results.get((kind, name, args.worker_counts[0]))
                lines.append(
                    f"| {kind} | {name} | {workers} | {r['rps']:,.0f} | "
                    f"{r['p99_us'] / 1000:.1f} | {r['cpu_ms']:.2f} | {r['errors']} | "
                    f"{_ratio(r, peer) if name != 'mlflow' else '-'} | {_ratio(r, own)} |"
                )
    return "\n".join(lines)


def _ratio(ours: Any, theirs: Any) -> str:
    return f"{ours['rps'] / theirs['rps']:.2f}x" if theirs and theirs["rps"] else "-"


def main() -> None:
    args = parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install -y wrk (taskset: util-linux)")
    load_before = serving.load_average()
    workdir = Path(tempfile.mkdtemp(prefix="loopml-bench-workers-"))
    try:
        results, mlflow = run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    mv = mlflow["versions"]
    print(
        f"- machine: {serving.cpu_model()}; load average before {load_before}, after "
        f"{serving.load_average()}; loopml at {serving.git_state()}; MLflow {mv['mlflow']}"
    )
    print(
        f"- each measurement: {args.warmup:g} s warm-up, {args.duration:g} s of `taskset -c "
        f"{serving.LOAD_CPU} wrk -t1 -c{args.connections}`; servers on CPUs {SERVER_CPUS}"
    )
    print(f"- command: `{Path(sys.executable).name} {' '.join(sys.argv)}`\n")
    print(table(results, args))
    drops = sum(r.get("dropped", 0) for r in results.values())
    print(f"\n- loopml prediction-log drops during the measurements: {drops:,.0f}")


if __name__ == "__main__":
    main()
