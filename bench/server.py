"""Team server benchmark: `loopml server` against `mlflow server`, both on loopback with SQLite.

    .venv/bin/python bench/server.py              # default sizes, 3-7 minutes on 2 cores
    .venv/bin/python bench/server.py --quick      # smoke test, ~2 minutes

1. Metric logging through the server: 8 concurrent client processes, each with its own run,
   each sending `--batches` batches of 1,000 metrics. loopml: `RemoteMetadataStore(url,
   token).runs.log_metrics(run_id, [Metric x 1,000])`; MLflow: `MlflowClient(url).log_batch(
   run_id, metrics=[Metric x 1,000])` (REST /api/2.0/mlflow/runs/log-batch). The bound: the
   same loopml clients calling `log_metrics` straight on the server's SQLite store (no
   server). Rounds interleave the three; metrics/s = all points / (last client done - first
   client started). Target: loopml >= 5x MLflow.
2. The runs page's API call over 100,000 runs: `runs.search(projects=[...], filter=
   "metrics.acc > 0.5", order_by=["metrics.acc DESC"], limit=50)` through the remote store
   (target < 300 ms), beside the same call on the SQLite store in process and the UI page
   `GET /runs?...` (Bearer token) that makes it.

loopml's clients and server run from the project venv; `mlflow server` and MLflow's clients
from the peers venv (bench/.venv-peers, created from bench/requirements-peers.txt when
missing): this file is also the client worker for both, so it imports only the standard
library at the top. See bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import json
import os
import platform
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PEERS_VENV = BENCH_DIR / ".venv-peers"
PEERS_BIN = PEERS_VENV / "bin"
PROJECT = "bench"
BATCH = 1_000  # metrics per log_metrics / log_batch call (MLflow's maximum per request)
SEARCH_FILTER = "metrics.acc > 0.5"
SEARCH_ORDER = "metrics.acc DESC"
SEARCH_LIMIT = 50
N_METRICS = 5  # acc, loss, f1, precision, recall
N_PARAMS = 5
READY_TIMEOUT = 180.0
TOKEN_ENV = "BENCH_SERVER_TOKEN"


# -- the data ---------------------------------------------------------------------------------
def run_values(index: int) -> tuple[dict[str, str], dict[str, float]]:
    """Params and metrics of populated run `index` (deterministic); acc > 0.5 in half."""
    rng = random.Random(index)
    params = {
        "optimizer": rng.choice(["adam", "sgd", "rmsprop"]),
        "lr": f"{rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2]):g}",
        "batch_size": str(rng.choice([32, 64, 128, 256])),
        "depth": str(rng.randrange(2, 12)),
        "seed": str(index),
    }
    acc = rng.random()
    metrics = {
        "acc": acc,
        "loss": 1.0 - acc + rng.random() * 0.1,
        "f1": rng.random(),
        "precision": rng.random(),
        "recall": rng.random(),
    }
    return params, metrics


def batch_values(client: int, step: int) -> list[tuple[str, float]]:
    return [(f"k{j}", (client * 7919 + step * 1000 + j) / 1e4) for j in range(BATCH)]


# -- client worker (either venv) --------------------------------------------------------------
def worker_main(args: argparse.Namespace) -> None:
    """A client process driven over stdin/stdout, one JSON line per command:
    `prepare` (a new run and one untimed warm-up batch at step 0), `go` (batches 1..N,
    timed), `verify` (read the last run's points back), `quit`."""
    if args.worker == "mlflow":
        client: Any = MlflowSide(args)
    else:
        client = LoopmlSide(args)
    say({"ready": True, "versions": client.versions()})
    run_id = None
    for line in sys.stdin:
        command = line.strip()
        if command == "prepare":
            run_id = client.new_run()
            client.log(run_id, 0)
            say({"run_id": run_id})
        elif command == "go":
            assert run_id is not None
            cpu0 = cpu_self()
            start = time.monotonic()
            latencies = []
            for step in range(1, args.batches + 1):
                t0 = time.monotonic()
                client.log(run_id, step)
                latencies.append(time.monotonic() - t0)
            end = time.monotonic()
            say({"start": start, "end": end, "latencies": latencies, "cpu_s": cpu_self() - cpu0})
        elif command == "verify":
            assert run_id is not None
            say({"stored": client.stored(run_id, ["k0", f"k{BATCH - 1}"])})
        elif command == "quit":
            break
    client.close()


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoopmlSide:
    """loopml's client: the remote store (`--url`), or the SQLite store itself (`--folder`)."""

    def __init__(self, args: argparse.Namespace) -> None:
        import loopml
        from loopml.core.entities import Metric

        self.loopml, self.Metric = loopml, Metric
        self.client_index = args.client
        if args.url:
            from loopml.store.remote import RemoteMetadataStore

            self.store = RemoteMetadataStore(args.url, os.environ[TOKEN_ENV])
            self.close = self.store.close
        else:
            from loopml.workspace import Workspace

            self.ws = Workspace.open(args.folder)
            self.store = self.ws.store
            self.close = self.ws.close

    def versions(self) -> dict[str, str]:
        return {"loopml": self.loopml.__version__}

    def new_run(self) -> str:
        return self.store.runs.create(PROJECT, f"log-c{self.client_index}").id

    def log(self, run_id: str, step: int) -> None:
        now = dt.datetime.now(dt.UTC)
        metrics = [self.Metric(k, v, step, now) for k, v in batch_values(self.client_index, step)]
        self.store.runs.log_metrics(run_id, metrics)

    def stored(self, run_id: str, keys: list[str]) -> int:
        return min(len(self.store.runs.metric_history(run_id, key)) for key in keys)


class MlflowSide:
    def __init__(self, args: argparse.Namespace) -> None:
        import mlflow
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        self.mlflow, self.Metric = mlflow, Metric
        self.client_index = args.client
        self.client = MlflowClient(tracking_uri=args.url)

    def versions(self) -> dict[str, str]:
        import sqlalchemy

        return {"mlflow": self.mlflow.__version__, "sqlalchemy": sqlalchemy.__version__}

    def new_run(self) -> str:
        run = self.client.create_run("0", run_name=f"log-c{self.client_index}")
        return run.info.run_id

    def log(self, run_id: str, step: int) -> None:
        now = int(time.time() * 1000)
        metrics = [self.Metric(k, v, now, step) for k, v in batch_values(self.client_index, step)]
        self.client.log_batch(run_id, metrics=metrics)

    def stored(self, run_id: str, keys: list[str]) -> int:
        return min(len(self.client.get_metric_history(run_id, key)) for key in keys)

    def close(self) -> None:
        pass


# -- processes --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "MLFLOW_"))}
    env.update(extra)
    return env


def ensure_peers_venv() -> None:
    if (PEERS_BIN / "python").exists():
        return
    print(f"creating {PEERS_VENV} from requirements-peers.txt ...", file=sys.stderr)
    subprocess.run(["python3", "-m", "venv", str(PEERS_VENV)], check=True)
    requirements = BENCH_DIR / "requirements-peers.txt"
    pip = [str(PEERS_BIN / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)]
    subprocess.run(pip, check=True)


@dataclasses.dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM to the server's process group (started in its own session)."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def cpu_seconds(self) -> float:
        return group_cpu_seconds(self.process.pid)

    def processes(self) -> int:
        return len(group_pids(self.process.pid))

    def process_names(self) -> str:
        """What the group's processes run: 'N x command' for each distinct command line."""
        counts: dict[str, int] = {}
        for pid in group_pids(self.process.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            words = [
                Path(a.decode()).name if i < 2 else a.decode() for i, a in enumerate(argv[:4]) if a
            ]
            name = " ".join(words)[:60]
            counts[name] = counts.get(name, 0) + 1
        return ", ".join(f"{n} x `{name}`" for name, n in sorted(counts.items()))


def group_pids(group: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) == group:  # pgrp
            found.append(int(entry))
    return found


def group_cpu_seconds(group: int) -> float:
    """CPU time (user + system) used so far by the live processes of a process group."""
    total = 0
    for pid in group_pids(group):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def start_loopml_server(folder: Path, workdir: Path) -> tuple[Server, str]:
    """`loopml server --port P` in the workspace folder; the admin token from its first line."""
    port = free_port()
    out, log = workdir / "loopml-server.out", workdir / "loopml-server.log"
    command = [str(Path(sys.executable).parent / "loopml"), "server", "--port", str(port)]
    process = subprocess.Popen(
        command,
        cwd=folder,
        env=clean_env(),
        start_new_session=True,
        stdout=out.open("wb"),
        stderr=log.open("wb"),
    )
    server = Server("loopml", f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + READY_TIMEOUT
    token = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"loopml server exited:\n{log.read_text()[-2000:]}")
        lines = out.read_text().splitlines()
        token = token or (lines[0].strip() if lines else "")
        if token and http_ok(server.url + "/api/v1/health/ready"):
            return server, token
        time.sleep(0.2)
    raise SystemExit("loopml server not ready (or printed no token)")


def start_mlflow_server(workdir: Path) -> Server:
    ensure_peers_venv()
    port = free_port()
    folder = workdir / "mlflow"
    folder.mkdir()
    log = workdir / "mlflow-server.log"
    command = [
        str(PEERS_BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--default-artifact-root",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    env = clean_env(PATH=f"{PEERS_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    process = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        start_new_session=True,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server("mlflow", f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"mlflow server exited:\n{log.read_text()[-2000:]}")
        if http_ok(server.url + "/health"):
            return server
        time.sleep(0.5)
    raise SystemExit("mlflow server not ready")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


class Clients:
    """`count` client worker processes of one kind, kept alive across rounds."""

    def __init__(
        self,
        kind: str,
        count: int,
        args: argparse.Namespace,
        workdir: Path,
        *,
        url: str = "",
        folder: Path | None = None,
        token: str = "",
    ) -> None:
        python = PEERS_BIN / "python" if kind == "mlflow" else Path(sys.executable)
        self.kind = kind
        self.procs = []
        for index in range(count):
            command = [
                str(python),
                str(Path(__file__).resolve()),
                f"--worker={kind}",
                f"--client={index}",
                f"--batches={args.batches}",
            ]
            command += [f"--url={url}"] if url else [f"--folder={folder}"]
            log = workdir / f"client-{kind}-{index}.log"
            self.procs.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log.open("wb"),
                    text=True,
                    bufsize=1,
                    cwd=workdir,
                    env=clean_env(**{TOKEN_ENV: token}),
                )
            )
        ready = [self._read(p) for p in self.procs]  # every worker has started
        self.versions = ready[0]["versions"]

    def _read(self, proc: subprocess.Popen[str]) -> dict[str, Any]:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=30)
            index = self.procs.index(proc)
            raise SystemExit(
                f"{self.kind} client {index} failed (exit {proc.returncode}); "
                f"see its log in the temp folder"
            )
        return json.loads(line)

    def command(self, command: str) -> list[dict[str, Any]]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        return [self._read(proc) for proc in self.procs]

    def close(self) -> None:
        for proc in self.procs:
            try:
                assert proc.stdin is not None
                proc.stdin.write("quit\n")
                proc.stdin.flush()
            except OSError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def measure(clients: Clients, server: Server | None, args: argparse.Namespace) -> dict[str, Any]:
    """One round: new runs and a warm-up batch each (untimed), then all clients at once."""
    clients.command("prepare")
    cpu = server.cpu_seconds() if server else 0.0
    results = clients.command("go")
    cpu = server.cpu_seconds() - cpu if server else 0.0
    stored = [r["stored"] for r in clients.command("verify")]
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    points = len(results) * args.batches * BATCH
    latencies = sorted(x for r in results for x in r["latencies"])
    batches = len(latencies)
    return {
        "rate": points / wall,
        "wall_s": wall,
        "points": points,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(batches - 1, int(batches * 0.99))] * 1000,
        "server_cpu_ms": cpu * 1000 / batches,  # per batch of 1,000
        "client_cpu_ms": sum(r["cpu_s"] for r in results) * 1000 / batches,
        "stored_ok": all(s == args.batches + 1 for s in stored),
        "stored": stored,
    }


# -- populating 100,000 runs ------------------------------------------------------------------
def populate(folder: Path, runs: int, api_runs: int) -> dict[str, Any]:
    """The first `api_runs` through the store interface (create, log_params, log_metrics,
    set_status: what a finished run leaves); the rest by bulk SQL into the same tables, with
    the same shape of rows, in one transaction. Reads back a run of each kind to compare."""
    from loopml.core.entities import Metric, RunStatus
    from loopml.core.ids import new_id
    from loopml.store.sql.engine import write
    from loopml.workspace import Workspace

    ws = Workspace.open(folder)
    store = ws.store.runs
    api_runs = min(api_runs, runs)
    start = time.perf_counter()
    for index in range(api_runs):
        params, metrics = run_values(index)
        run = store.create(PROJECT, f"run-{index}")
        store.log_params(run.id, params)
        now = dt.datetime.now(dt.UTC)
        store.log_metrics(run.id, [Metric(k, v, 0, now) for k, v in metrics.items()])
        store.set_status(run.id, RunStatus.FINISHED)
    api_s = time.perf_counter() - start

    project_id = ws.store.projects.get(PROJECT).id
    start = time.perf_counter()

    def bulk(conn: Any) -> None:
        (top,) = conn.exec_driver_sql("SELECT max(pk) FROM runs").one()
        base_ms = int(time.time() * 1000)
        run_rows, param_rows, metric_rows = [], [], []
        for index in range(api_runs, runs):
            pk = top + 1 + index - api_runs
            begin = base_ms + index * 10
            run_rows.append(
                (
                    pk,
                    new_id(),
                    project_id,
                    f"run-{index}",
                    RunStatus.FINISHED.value,
                    begin,
                    begin + 5,
                    begin + 5,
                )
            )
            params, metrics = run_values(index)
            param_rows += [(pk, k, v) for k, v in params.items()]
            metric_rows += [(pk, k, v, 0, begin + 1) for k, v in metrics.items()]
        conn.exec_driver_sql(
            "INSERT INTO runs (pk, id, project_id, name, status, start_ms, end_ms, heartbeat_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        conn.exec_driver_sql("INSERT INTO params (run_pk, key, value) VALUES (?, ?, ?)", param_rows)
        conn.exec_driver_sql(
            "INSERT INTO metrics (run_pk, key, value, step, ts_ms) VALUES (?, ?, ?, ?, ?)",
            metric_rows,
        )
        conn.exec_driver_sql(
            "INSERT INTO latest_metrics (run_pk, key, value, step, ts_ms) VALUES (?, ?, ?, ?, ?)",
            metric_rows,
        )

    if runs > api_runs:
        write(ws.store.engine, bulk)
    bulk_s = time.perf_counter() - start
    # the same record shape from both paths: compare a run of each against its values
    same = True
    for name in ("run-0", f"run-{runs - 1}"):
        (found,) = store.search(projects=[PROJECT], filter=f"name = '{name}'", limit=1)
        params, metrics = run_values(int(name.split("-")[1]))
        same &= dict(found.params) == params and dict(found.metrics) == metrics
        same &= found.status == RunStatus.FINISHED and found.end_time is not None
    with ws.store.engine.connect() as conn:
        total = conn.exec_driver_sql("SELECT count(*) FROM runs").scalar()
    ws.close()
    return {
        "runs": runs,
        "api_runs": api_runs,
        "api_s": api_s,
        "bulk_runs": runs - api_runs,
        "bulk_s": bulk_s,
        "same_shape": same,
        "stored_runs": total,
    }


def search_bench(
    folder: Path, server: Server, token: str, runs: int, repeats: int
) -> dict[str, Any]:
    """Interleaved per repeat: the remote store's search, the same on the SQLite store in
    process, and the UI page over HTTP (Bearer). First calls apart, then medians."""
    import httpx

    from loopml.store.remote import RemoteMetadataStore
    from loopml.workspace import Workspace

    remote = RemoteMetadataStore(server.url, token)
    ws = Workspace.open(folder)
    http = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    query = {
        "project": PROJECT,
        "q": SEARCH_FILTER,
        "order": SEARCH_ORDER,
        "limit": str(SEARCH_LIMIT),
    }
    page_path = "/runs?" + urllib.parse.urlencode(query)
    accs = [run_values(i)[1]["acc"] for i in range(runs)]
    top = sorted((a for a in accs if a > 0.5), reverse=True)[:SEARCH_LIMIT]
    top_name = f"run-{accs.index(top[0])}"

    def remote_search() -> list[float]:
        found = remote.runs.search(
            projects=[PROJECT], filter=SEARCH_FILTER, order_by=[SEARCH_ORDER], limit=SEARCH_LIMIT
        )
        return [r.metrics["acc"] for r in found]

    def local_search() -> list[float]:
        found = ws.store.runs.search(
            projects=[PROJECT], filter=SEARCH_FILTER, order_by=[SEARCH_ORDER], limit=SEARCH_LIMIT
        )
        return [r.metrics["acc"] for r in found]

    def ui_page() -> tuple[int, str]:
        response = http.get(page_path)
        return response.status_code, response.text

    actions = {"remote": remote_search, "local": local_search, "page": ui_page}
    first: dict[str, float] = {}
    answers: dict[str, Any] = {}
    timings: dict[str, list[float]] = {name: [] for name in actions}
    for repeat in range(repeats + 1):
        order = list(actions) if repeat % 2 == 0 else list(reversed(actions))
        for name in order:
            t0 = time.perf_counter()
            answer = actions[name]()
            elapsed = time.perf_counter() - t0
            if repeat == 0:
                first[name], answers[name] = elapsed, answer
            else:
                timings[name].append(elapsed)
    status, html = answers["page"]
    result = {
        name: {
            "first_s": first[name],
            "median_s": statistics.median(t),
            "min_s": min(t),
            "max_s": max(t),
        }
        for name, t in timings.items()
    }
    result["checks"] = {
        "remote_top_ok": answers["remote"] == top,
        "local_top_ok": answers["local"] == top,
        "page_status": status,
        "page_bytes": len(html),
        "page_shows_top_run": f">{top_name}<" in html,
    }
    remote.close()
    ws.close()
    http.close()
    return result


# -- where a batch's time goes (in process) ---------------------------------------------------
def batch_breakdown(folder: Path, repeats: int = 30) -> dict[str, float]:
    """One 1,000-metric log_metrics call split into the steps the client and the server take,
    each timed in this process (median ms): what the server's CPU per batch is made of."""
    from loopml.core.entities import Metric
    from loopml.store import rpc
    from loopml.workspace import Workspace

    ws = Workspace.open(folder)
    run = ws.store.runs.create(PROJECT, "breakdown")
    now = dt.datetime.now(dt.UTC)
    steps: dict[str, list[float]] = {}

    def lap(name: str, since: float) -> None:
        steps.setdefault(name, []).append((time.perf_counter() - since) * 1000)

    text = ""
    for step in range(repeats):
        gc.collect()  # each repetition starts from the same heap (no collection mid-step)
        values = batch_values(0, step)
        t0 = time.perf_counter()
        metrics = [Metric(k, v, step, now) for k, v in values]
        lap("client: build 1,000 Metric records", t0)
        t0 = time.perf_counter()
        encoded = rpc.encode_arguments({"run_id": run.id, "metrics": metrics})
        lap("client: rpc.encode_arguments (tagged JSON)", t0)
        t0 = time.perf_counter()
        text = json.dumps({"kwargs": encoded})
        lap("client: json.dumps", t0)
        t0 = time.perf_counter()
        body = json.loads(text)
        lap("server: json.loads", t0)
        t0 = time.perf_counter()
        kwargs = rpc.decode_arguments(body["kwargs"])
        lap("server: rpc.decode_arguments (records back)", t0)
        t0 = time.perf_counter()
        kwargs = rpc.bind("runs", "log_metrics", kwargs)
        lap("server: rpc.bind", t0)
        t0 = time.perf_counter()
        ws.store.runs.log_metrics(**kwargs)
        lap("server: store.runs.log_metrics (SQLite)", t0)
        t0 = time.perf_counter()
        ws.store.auth.authenticate(TOKEN)
        lap("server: authenticate (token lookup)", t0)
    ws.close()
    result = {name: statistics.median(values) for name, values in steps.items()}
    result["body_bytes"] = len(text)
    return result


TOKEN = ""  # the admin token, set in main (the breakdown authenticates with it)


# -- report -----------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def git_state() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "src").strip()
    return f"HEAD {head}" + (", src/ changed in the work tree" if dirty else ", clean src/")


def pick_median(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(rounds, key=lambda r: r["rate"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["all_rates"] = [r["rate"] for r in rounds]
    return chosen


def table(rows: list[list[str]], head: list[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def report(args: argparse.Namespace, info: dict[str, Any]) -> str:
    out: list[str] = []
    out += info["header"]
    logs = {name: pick_median(info["rounds"][name]) for name in info["rounds"]}
    head = [
        "client -> store",
        "metrics/s (median round)",
        "rounds",
        "batch p50 / p99",
        "server CPU / batch",
        "client CPU / batch",
        "points read back",
    ]
    labels = {
        "loopml": "loopml: RemoteMetadataStore -> `loopml server` (1 process)",
        "mlflow": f"MLflow: MlflowClient.log_batch -> `mlflow server` "
        f"({info['mlflow_processes']} processes)",
        "bare": "bound: loopml clients straight on the SQLite store (no server)",
    }
    rows = []
    for name, r in logs.items():
        rows.append(
            [
                labels[name],
                f"{r['rate']:,.0f}",
                ", ".join(f"{x:,.0f}" for x in r["all_rates"]),
                f"{r['p50_ms']:,.0f} / {r['p99_ms']:,.0f} ms",
                f"{r['server_cpu_ms']:,.1f} ms" if name != "bare" else "-",
                f"{r['client_cpu_ms']:,.1f} ms",
                "all" if r["stored_ok"] else f"NO {r['stored']}",
            ]
        )
    out += [
        "",
        f"log {args.clients} clients x {args.batches} batches x {BATCH:,} metrics "
        f"per round, {args.rounds} round(s), interleaved:",
        "",
    ]
    out.append(table(rows, head))
    lm, mf, bare = logs["loopml"], logs["mlflow"], logs["bare"]
    ratio = lm["rate"] / mf["rate"]
    by_cpu = mf["server_cpu_ms"] / lm["server_cpu_ms"]
    pairs = zip(info["rounds"]["loopml"], info["rounds"]["mlflow"], strict=True)
    rounds_ratio = [a["rate"] / b["rate"] for a, b in pairs]
    s = info["search"]
    pop = info["populate"]
    head2 = [
        "call over " + f"{pop['stored_runs']:,} runs",
        "first call",
        "warm median",
        "warm min-max",
    ]
    rows2 = []
    names = {
        "remote": "`runs.search` through the server (RemoteMetadataStore)",
        "local": "bound: the same `runs.search` on the SQLite store in process",
        "page": "UI page `GET /runs?project=...&q=...&order=...&limit=50` (Bearer)",
    }
    for name, label in names.items():
        r = s[name]
        rows2.append(
            [label, ms(r["first_s"]), ms(r["median_s"]), f"{ms(r['min_s'])} - {ms(r['max_s'])}"]
        )
    out += [
        "",
        f"search: filter `{SEARCH_FILTER}`, order `{SEARCH_ORDER}`, limit "
        f"{SEARCH_LIMIT}, project `{PROJECT}`; first call, then median of "
        f"{args.search_repeats} (the three interleaved):",
        "",
    ]
    out.append(table(rows2, head2))
    ok_log = ratio >= 5
    ok_search = s["remote"]["median_s"] < 0.3
    out += [
        "",
        "| target | result | met |",
        "|---|---|---|",
        f"| log_batch, {args.clients} clients: loopml >= 5x MLflow | {lm['rate']:,.0f} / "
        f"{mf['rate']:,.0f} = {ratio:.2f}x (per round: "
        f"{', '.join(f'{x:.2f}x' for x in rounds_ratio)}; by server CPU per batch "
        f"{by_cpu:.2f}x) | {'yes' if ok_log else 'NO'} |",
        f"| runs page API call over {pop['stored_runs']:,} runs < 300 ms | "
        f"{ms(s['remote']['median_s'])} warm median, first {ms(s['remote']['first_s'])} | "
        f"{'yes' if ok_search else 'NO'} |",
    ]
    c = s["checks"]
    b = info["breakdown"]
    server_steps = sum(v for k, v in b.items() if k.startswith("server:"))
    out += [
        "",
        "Printed notes of this run:",
        f"- loopml through the server reaches {lm['rate'] / bare['rate']:.0%} of the "
        f"bare store's rate with the same clients ({lm['rate']:,.0f} vs "
        f"{bare['rate']:,.0f} metrics/s).",
        f"- populating: {pop['api_runs']:,} runs through the store interface "
        f"({pop['api_runs'] / pop['api_s']:,.0f} runs/s: "
        f"{pop['runs'] / (pop['api_runs'] / pop['api_s']) / 60:.0f} min projected for all),"
        f" {pop['bulk_runs']:,} by bulk SQL in {pop['bulk_s']:.1f} s; {pop['stored_runs']:,}"
        f" runs stored; a run of each kind reads back with its values: "
        f"{'yes' if pop['same_shape'] else 'NO'}.",
        f"- search answers: the top {SEARCH_LIMIT} acc values equal the expected ones "
        f"through the server: {'yes' if c['remote_top_ok'] else 'NO'}, in process: "
        f"{'yes' if c['local_top_ok'] else 'NO'}; the page answered {c['page_status']} "
        f"({c['page_bytes']:,} bytes) and shows the top run: "
        f"{'yes' if c['page_shows_top_run'] else 'NO'}.",
        f"- one 1,000-metric batch in process, step by step (median ms; request body "
        f"{b['body_bytes']:,} bytes): "
        + "; ".join(f"{k} {v:.1f}" for k, v in b.items() if k != "body_bytes")
        + ". "
        f"The server's steps take {server_steps:.1f} ms of wall time here (the store's "
        f"includes waiting on SQLite's write lock and the WAL); the running server spent "
        f"{lm['server_cpu_ms']:.1f} ms of CPU per batch in all (HTTP, FastAPI, the thread "
        f"pool and the role check included).",
        f"- `mlflow server` (defaults: 4 workers) ran as {info['mlflow_processes']} "
        f"processes: {info['mlflow_names']}.",
    ]
    return "\n".join(out)


# -- main -------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 runs, 1 round")
    parser.add_argument("--runs", type=int, help="runs to search over (default 100,000)")
    parser.add_argument(
        "--api-runs", type=int, default=1_000, help="of those, created through the store interface"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batches", type=int, help="batches per client per round (10)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (3)")
    parser.add_argument("--search-repeats", type=int, help="warm repeats of each search (20)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--worker", choices=["loopml", "bare", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--client", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--folder", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.runs = args.runs or (10_000 if args.quick else 100_000)
    args.batches = args.batches or (3 if args.quick else 10)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.search_repeats = args.search_repeats or (5 if args.quick else 20)
    return args


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    global TOKEN
    args = parse_args()
    if args.worker:
        worker_main(args)
        return
    import sqlalchemy

    import loopml

    started = time.monotonic()
    load_before = uptime()
    workdir = Path(tempfile.mkdtemp(prefix="loopml-bench-server-"))
    folder = workdir / "loopml"
    folder.mkdir()
    servers: list[Server] = []
    pools: list[Clients] = []
    info: dict[str, Any] = {"rounds": {"loopml": [], "mlflow": [], "bare": []}}
    try:
        step("MLflow: start `mlflow server` (peers venv, SQLite)")
        mlflow_server = start_mlflow_server(workdir)
        servers.append(mlflow_server)
        step(f"loopml: `loopml init`, then {args.runs:,} runs on its SQLite store")
        subprocess.run(
            [str(Path(sys.executable).parent / "loopml"), "init", str(folder)],
            check=True,
            env=clean_env(),
            capture_output=True,
        )
        info["populate"] = populate(folder, args.runs, args.api_runs)
        step("loopml: start `loopml server`")
        loopml_server, TOKEN = start_loopml_server(folder, workdir)
        servers.append(loopml_server)
        step(f"search over {args.runs:,} runs")
        info["search"] = search_bench(folder, loopml_server, TOKEN, args.runs, args.search_repeats)
        step(f"start {args.clients} client processes per side")
        pools = [
            Clients("loopml", args.clients, args, workdir, url=loopml_server.url, token=TOKEN),
            Clients("mlflow", args.clients, args, workdir, url=mlflow_server.url),
            Clients("bare", args.clients, args, workdir, folder=folder),
        ]
        info["mlflow_processes"] = mlflow_server.processes()
        info["mlflow_names"] = mlflow_server.process_names()
        targets = {"loopml": loopml_server, "mlflow": mlflow_server, "bare": None}
        for round_index in range(args.rounds):
            order = [0, 1, 2] if round_index % 2 == 0 else [1, 2, 0]
            for i in order:
                pool = pools[i]
                result = measure(pool, targets[pool.kind], args)
                info["rounds"][pool.kind].append(result)
                step(f"round {round_index + 1}: {pool.kind} {result['rate']:,.0f} metrics/s")
        mlflow_versions = pools[1].versions
        for pool in pools:
            pool.close()
        pools = []
        step("where a batch's time goes (in process)")
        info["breakdown"] = batch_breakdown(folder)
    finally:
        for pool in pools:
            pool.close()
        for server in servers:
            server.stop()
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
    wall = time.monotonic() - started
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info["header"] = [
        f"- date: {now} (repository at {git_state()}; loopml imported from "
        f"{Path(loopml.__file__).parent.parent})",
        f"- machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} "
        f"{platform.release()}",
        f"- uptime before: {load_before}",
        f"- uptime after:  {uptime()}",
        f"- versions: loopml {loopml.__version__} (Python {platform.python_version()}, FastAPI "
        f"{version('fastapi')}, uvicorn {version('uvicorn')}, httpx {version('httpx')}, "
        f"SQLAlchemy {sqlalchemy.__version__}); MLflow {mlflow_versions['mlflow']} "
        f"(SQLAlchemy {mlflow_versions['sqlalchemy']}, in bench/.venv-peers)",
        f"- command, from the repository root: `{os.path.relpath(sys.executable)} "
        f"{' '.join(sys.argv)}` ({int(wall // 60)} min {int(wall % 60)} s wall time)",
    ]
    print(report(args, info))


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH_DIR))
    main()
