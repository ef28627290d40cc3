"""MLflow's side of bench/tracking.py. Runs under the peers venv and writes JSON results.

    bench/.venv-peers/bin/python bench/_mlflow_tracking.py --workdir DIR --out FILE ...

Every part uses its own SQLite database (`sqlite:///DIR/<part>/mlflow.db`).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import mlflow
import sqlalchemy
from mlflow import MlflowClient
from mlflow.entities import Metric

import _tracking_data as data

RUN_TABLES = ("runs", "tags", "params", "metrics", "latest_metrics")


def use_store(folder: Path) -> str:
    """Point MLflow at a fresh SQLite store in `folder`; create its experiment (untimed)."""
    folder.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    return mlflow.create_experiment(data.PROJECT, artifact_location=str(folder / "artifacts"))


def bench_log_metric(folder: Path, calls: int) -> dict[str, Any]:
    """`calls` sequential mlflow.log_metric calls in one active run, then end_run."""
    experiment_id = use_store(folder)
    values = data.metric_series(calls)
    mlflow.start_run(experiment_id=experiment_id)
    start = time.perf_counter()
    for step, value in enumerate(values):
        mlflow.log_metric("loss", value, step=step)
    loop = time.perf_counter() - start
    mlflow.end_run()
    total = time.perf_counter() - start
    return {"calls": calls, "loop_s": loop, "total_s": total}


def bench_log_batch(folder: Path, batches: int, size: int) -> dict[str, Any]:
    """`batches` MlflowClient.log_batch calls of `size` metrics each, then set_terminated."""
    experiment_id = use_store(folder)
    client = MlflowClient()
    run_id = client.create_run(experiment_id).info.run_id
    keys, now = data.batch_keys(size), int(time.time() * 1000)
    prepared = [
        [Metric(key, (b * size + j) / 1e4, now, b) for j, key in enumerate(keys)]
        for b in range(batches)
    ]
    start = time.perf_counter()
    for metrics in prepared:
        client.log_batch(run_id, metrics=metrics)
    loop = time.perf_counter() - start
    client.set_terminated(run_id)
    total = time.perf_counter() - start
    return {"metrics": batches * size, "loop_s": loop, "total_s": total}


def create_runs(experiment_id: str, count: int) -> tuple[str, float]:
    """Runs 0..count-1 through MLflow's API (start_run, log_params, log_metrics, end).

    Returns the first run's id and the time taken."""
    start = time.perf_counter()
    first_id = ""
    for index in range(count):
        params, metrics = data.run_values(index)
        with mlflow.start_run(experiment_id=experiment_id, run_name=data.run_name(index)) as run:
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
        first_id = first_id or run.info.run_id
    return first_id, time.perf_counter() - start


def populate(folder: Path, runs: int, api_runs: int) -> dict[str, Any]:
    """`api_runs` real runs through MLflow's API, then copies of the first one's rows by
    bulk SQL for the rest, with each run's own values."""
    experiment_id = use_store(folder)
    api_runs = max(1, min(api_runs, runs))
    real_id, api_s = create_runs(experiment_id, api_runs)
    start = time.perf_counter()
    with sqlite3.connect(folder / "mlflow.db") as conn:
        conn.row_factory = sqlite3.Row
        template = {table: rows_of(conn, table, real_id) for table in RUN_TABLES}
        rows: dict[str, list[dict]] = {table: [] for table in RUN_TABLES}
        for index in range(api_runs, runs):
            for table, new_rows in copy_run(template, real_id, index).items():
                rows[table].extend(new_rows)
        for table, new_rows in rows.items():
            insert_rows(conn, table, new_rows)
        (stored,) = conn.execute("SELECT COUNT(*) FROM runs").fetchone()
    return {
        "experiment_id": experiment_id,
        "api_runs": api_runs,
        "api_s": api_s,
        "sql_runs": runs - api_runs,
        "sql_s": time.perf_counter() - start,
        "stored_runs": stored,
    }


def rows_of(conn: sqlite3.Connection, table: str, run_id: str) -> list[dict]:
    query = f"SELECT * FROM {table} WHERE run_uuid = ?"
    return [dict(row) for row in conn.execute(query, (run_id,))]


def insert_rows(conn: sqlite3.Connection, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    names, marks = ", ".join(f'"{c}"' for c in columns), ", ".join("?" * len(columns))
    conn.executemany(
        f"INSERT INTO {table} ({names}) VALUES ({marks})",
        [tuple(row[c] for c in columns) for row in rows],
    )


def copy_run(template: dict[str, list[dict]], real_id: str, index: int) -> dict[str, list[dict]]:
    """The rows MLflow wrote for the real run, rewritten for run `index` and its values."""
    run_id, name = uuid.uuid4().hex, data.run_name(index)
    params, metrics = data.run_values(index)
    (run,) = template["runs"]
    shift = index  # ms: runs start one millisecond apart, in index order
    new_run = {
        **run,
        "run_uuid": run_id,
        "name": name,
        "artifact_uri": run["artifact_uri"].replace(real_id, run_id),
        "start_time": run["start_time"] + shift,
        "end_time": run["end_time"] + shift,
    }
    tags = [
        {
            **tag,
            "run_uuid": run_id,
            "value": name if tag["key"] == "mlflow.runName" else tag["value"],
        }
        for tag in template["tags"]
    ]
    param_rows = [{**p, "run_uuid": run_id, "value": params[p["key"]]} for p in template["params"]]
    points = {
        table: [
            {
                **m,
                "run_uuid": run_id,
                "value": metrics[m["key"]],
                "timestamp": m["timestamp"] + shift,
            }
            for m in template[table]
        ]
        for table in ("metrics", "latest_metrics")
    }
    return {"runs": [new_run], "tags": tags, "params": param_rows, **points}


def bench_search(folder: Path, runs: int, api_runs: int, repeats: int) -> dict[str, Any]:
    """MlflowClient.search_runs (a list of Run entities, no pandas) over `runs` runs."""
    populated = populate(folder, runs, api_runs)
    experiment_id = populated["experiment_id"]
    client = MlflowClient()

    def search() -> list[float]:
        found = client.search_runs(
            [experiment_id],
            filter_string=data.SEARCH_FILTER,
            order_by=[data.SEARCH_ORDER],
            max_results=data.SEARCH_LIMIT,
        )
        return [run.data.metrics["m1"] for run in found]

    timing = data.timed_repeats(search, repeats)
    return {
        "runs": runs,
        "populate": populated,
        "first_s": timing["first_s"],
        "median_s": timing["median_s"],
        "top_m1": timing["result"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--api-runs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = {
        "versions": {"mlflow": mlflow.__version__, "sqlalchemy": sqlalchemy.__version__},
        "log_metric": bench_log_metric(args.workdir / "log_metric", args.calls),
        "log_batch": bench_log_batch(args.workdir / "log_batch", args.batches, args.batch_size),
        "search": bench_search(args.workdir / "search", args.runs, args.api_runs, args.repeats),
    }
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
