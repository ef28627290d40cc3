"""Serving benchmark: `loopml serve` against `mlflow models serve` and a bare Starlette endpoint.

    .venv/bin/python bench/serving.py              # 10 s per measurement, ~6-8 minutes
    .venv/bin/python bench/serving.py --quick      # 3 s per measurement, ~3 minutes

Two models (iris LogisticRegression, a 100-round XGBoost classifier), four servers per model
(loopml, loopml with micro-batching, MLflow, bare), concurrency 1, 8 and 64. Every server is
one uvicorn worker pinned to CPU 0 (`taskset -c 0`); the load generator, wrk with one thread,
is pinned to CPU 1. Everything listens on 127.0.0.1. Needs `wrk` and `taskset` on PATH
(`apt-get install -y wrk`). MLflow runs from the peers venv (bench/.venv-peers, created from
bench/requirements-peers.txt when missing). See bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

import _serving_models as models
import loopml
from loopml.workspace import Workspace

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PROJECT_BIN = Path(sys.executable).parent
PEERS_VENV = BENCH_DIR / ".venv-peers"
PEERS_BIN = PEERS_VENV / "bin"
SERVER_CPU, LOAD_CPU = "0", "1"
READY_TIMEOUT = 180.0
SERVERS = ("loopml", "loopml-batched", "mlflow", "bare")
WRK_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{body}'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {{"requests": %d, "duration_us": %d, "p50_us": %d, ' ..
    '"p99_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclasses.dataclass
class Server:
    name: str  # one of SERVERS
    model: str  # one of models.MODELS
    url: str  # the prediction endpoint
    body: str  # one request's JSON body
    expected: int  # the prediction for the benchmark row
    process: subprocess.Popen[bytes]
    log: Path
    script: Path  # wrk's Lua script
    load_cpu: str = LOAD_CPU  # where wrk runs against it

    @property
    def base(self) -> str:
        return self.url.rsplit("/", 1)[0]

    def stop(self) -> None:
        """SIGTERM to the server's process group (we started it in its own session)."""
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


# -- setup ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "MLFLOW_"))}
    env.update(extra)
    return env


def loopml_workspace(folder: Path) -> dict[str, list[int]]:
    """Register both models and a deployment of each; their predictions on every iris row."""
    ws = Workspace.init(folder)
    x, _ = models.features()
    predictions = {}
    for kind in models.MODELS:
        model = models.train(kind)
        loopml.registry.register(kind, model, input_example=x.head(5), workspace=ws)
        loopml.deployments.create(f"{kind}-api", f"{kind}/1", workspace=ws)
        loaded = loopml.registry.load(f"{kind}/1", workspace=ws)
        predictions[kind] = [int(v) for v in loaded.predict(x)]
    ws.close()
    return predictions


def ensure_peers_venv() -> None:
    if (PEERS_BIN / "python").exists():
        return
    print(f"creating {PEERS_VENV} from requirements-peers.txt ...", file=sys.stderr)
    subprocess.run(["python3", "-m", "venv", str(PEERS_VENV)], check=True)
    requirements = BENCH_DIR / "requirements-peers.txt"
    pip = [str(PEERS_BIN / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)]
    subprocess.run(pip, check=True)


def mlflow_models(workdir: Path) -> dict[str, Any]:
    ensure_peers_venv()
    out = workdir / "mlflow.json"
    command = [
        str(PEERS_BIN / "python"),
        str(BENCH_DIR / "_mlflow_serving.py"),
        f"--workdir={workdir / 'mlflow'}",
        f"--out={out}",
    ]
    done = subprocess.run(command, cwd=BENCH_DIR, capture_output=True, text=True, env=clean_env())
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"the MLflow side failed (exit {done.returncode})")
    return json.loads(out.read_text())


def start_server(
    name: str,
    kind: str,
    expected: int,
    workdir: Path,
    mlflow: dict[str, Any],
    args: argparse.Namespace,
    workers: int = 1,
    cpus: str = SERVER_CPU,
) -> Server:
    """Start one server (`workers` processes, pinned to `cpus`) of `kind`'s model."""
    port = free_port()
    row = models.request_row()
    ws_dir = workdir / "loopml"
    log = workdir / f"{kind}-{name}.log"
    env = clean_env()
    cwd = ws_dir
    if name.startswith("loopml"):
        command = [
            str(PROJECT_BIN / "loopml"),
            "serve",
            f"{kind}-api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        if name == "loopml-batched":
            command += [
                "--batch-max-rows",
                str(args.batch_max_rows),
                "--batch-max-wait-ms",
                str(args.batch_max_wait_ms),
            ]
        url, body = f"http://127.0.0.1:{port}/predict", {"instances": [row]}
    elif name == "bare":
        command = [
            str(sys.executable),
            str(BENCH_DIR / "_bare_server.py"),
            "--model",
            f"{kind}/1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        paths = [str(BENCH_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = clean_env(PYTHONPATH=os.pathsep.join(paths))  # the workers import _bare_server
        url, body = f"http://127.0.0.1:{port}/predict", {"instances": [row]}
    else:
        command = [
            str(PEERS_BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            mlflow["models"][kind]["uri"],
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        # `mlflow models serve` starts `uvicorn` from PATH (FACTS.md): the peers venv's.
        env = clean_env(
            PATH=f"{PEERS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            MLFLOW_TRACKING_URI=mlflow["tracking_uri"],
        )
        cwd = workdir / "mlflow"
        url, body = f"http://127.0.0.1:{port}/invocations", {"dataframe_records": [row]}
    text = json.dumps(body, separators=(",", ":"))
    script = workdir / f"{kind}-{name}.lua"
    script.write_text(WRK_SCRIPT.format(body=text))
    process = subprocess.Popen(
        ["taskset", "-c", cpus, *command],
        cwd=cwd,
        env=env,
        start_new_session=True,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Server(name, kind, url, text, expected, process, log, script)


def post(url: str, body: str, timeout: float = 10.0) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()[:300]


def wait_ready(server: Server) -> float:
    """Seconds until the server answers the benchmark request with the expected prediction."""
    start = time.monotonic()
    while time.monotonic() - start < READY_TIMEOUT:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{server.name} ({server.model}) exited:\n{tail}")
        try:
            status, answer = post(server.url, server.body, timeout=5)
        except (OSError, ValueError):
            time.sleep(0.25)
            continue
        if status != 200:
            raise SystemExit(f"{server.name} ({server.model}) answered {status}: {answer!r}")
        got = answer["predictions"][0]
        if got != server.expected:
            raise SystemExit(
                f"{server.name} ({server.model}) predicted {got}, expected {server.expected}"
            )
        return time.monotonic() - start
    raise SystemExit(f"{server.name} ({server.model}) not ready after {READY_TIMEOUT:.0f} s")


# -- measuring --------------------------------------------------------------------------------
def wrk(server: Server, connections: int, seconds: float) -> dict[str, Any]:
    command = [
        "taskset",
        "-c",
        server.load_cpu,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(server.script),
        server.url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    result = json.loads(line[len("RESULT ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


def loopml_metrics(server: Server) -> dict[str, float]:
    """Counters from loopml's /metrics: requests answered, log drops and depth, batch rows."""
    with urllib.request.urlopen(server.base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {"requests": 0.0, "dropped": 0.0, "depth": 0.0, "rows_sum": 0.0, "calls": 0.0}
    patterns = {
        "requests": r'^loopml_requests_total\{[^}]*status="200"[^}]*\} (\S+)',
        "dropped": r"^loopml_prediction_log_dropped (\S+)",
        "depth": r"^loopml_prediction_log_queue_depth (\S+)",
        "rows_sum": r"^loopml_batch_rows_sum\{[^}]*\} (\S+)",
        "calls": r"^loopml_batch_rows_count\{[^}]*\} (\S+)",
    }
    for key, pattern in patterns.items():
        for match in re.finditer(pattern, text, re.MULTILINE):
            found[key] += float(match.group(1))
    return found


def cpu_seconds(group: int) -> float:
    """CPU time (user + system) used so far by the processes of a process group."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def measure(server: Server, connections: int, args: argparse.Namespace) -> dict[str, Any]:
    wrk(server, connections, args.warmup)
    before = loopml_metrics(server) if server.name.startswith("loopml") else None
    cpu = cpu_seconds(server.process.pid)
    result = wrk(server, connections, args.duration)
    cpu = cpu_seconds(server.process.pid) - cpu
    result["cpu_ms"] = cpu * 1000 / result["requests"] if result["requests"] else math.nan
    if before is not None:
        after = loopml_metrics(server)
        result["answered"] = after["requests"] - before["requests"]
        result["dropped"] = after["dropped"] - before["dropped"]
        result["dropped_total"] = after["dropped"]
        result["depth"] = after["depth"]
        calls = after["calls"] - before["calls"]
        result["rows_per_call"] = (after["rows_sum"] - before["rows_sum"]) / calls if calls else 0
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["all_rps"] = [r["rps"] for r in runs]
    return chosen


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


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src/loopml/serving", "src/loopml/registry"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"HEAD {head}" + (", serving/registry changed in the work tree" if dirty else "")


def header(mlflow: dict[str, Any], load_before: str, args: argparse.Namespace) -> list[str]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    mv = mlflow["versions"]
    return [
        f"- date: {now} (loopml at {git_state()})",
        f"- machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} "
        f"{platform.release()}; load average before {load_before}, after {load_average()}",
        f"- versions: loopml {loopml.__version__} (Python {platform.python_version()}, "
        f"FastAPI {version('fastapi')}, Starlette {version('starlette')}, uvicorn "
        f"{version('uvicorn')}, pandas {version('pandas')}, scikit-learn {version('scikit-learn')}"
        f", XGBoost {version('xgboost-cpu')}); MLflow {mv['mlflow']} (scikit-learn "
        f"{mv['sklearn']}, XGBoost {mv['xgboost']}, in bench/.venv-peers); "
        f"{(wrk_version.splitlines() or ['wrk ?'])[0].split(' Copyright')[0]}",
        f"- each measurement: {args.warmup:g} s warm-up, then {args.duration:g} s of "
        f"`taskset -c {LOAD_CPU} wrk -t1 -cN --timeout 10s`, servers on CPU {SERVER_CPU}; "
        f"median of {args.rounds} round(s); micro-batching: --batch-max-rows "
        f"{args.batch_max_rows} --batch-max-wait-ms {args.batch_max_wait_ms:g}",
        f"- command, from the repository root: `{os.path.relpath(sys.executable)} "
        f"{' '.join(sys.argv)}`",
    ]


def table(results: dict[tuple[str, str, int], dict[str, Any]], levels: list[int]) -> str:
    head = [
        "model",
        "server",
        "concurrency",
        "requests/s",
        "p50",
        "p99",
        "server CPU/request",
        "errors",
        "notes",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (kind, name, conc), r in results.items():
        notes = []
        if len(r["all_rps"]) > 1:
            notes.append("rounds " + ", ".join(f"{x:,.0f}" for x in r["all_rps"]))
        if "dropped" in r:
            notes.append(f"log drops {r['dropped']:,.0f}")
            if name == "loopml-batched":
                notes.append(f"{r['rows_per_call']:.1f} rows/call")
        cells = [
            kind,
            name,
            str(conc),
            f"{r['rps']:,.0f}",
            f"{r['p50_us'] / 1000:,.2f} ms",
            f"{r['p99_us'] / 1000:,.2f} ms",
            f"{r['cpu_ms']:.2f} ms",
            str(r["errors"]),
            "; ".join(notes) or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(results: dict[tuple[str, str, int], dict[str, Any]]) -> list[str]:
    """PASS/MISS per target on requests/s, with the same ratio by server CPU per request
    (less sensitive to other work on a shared machine) beside it."""
    lines = []

    def check(label: str, ours: tuple[str, str, int], theirs: tuple[str, str, int],
              target: float) -> None:  # fmt: skip
        a, b = results.get(ours), results.get(theirs)
        if a is None or b is None:
            lines.append(f"- {label}: not measured")
            return
        ratio = a["rps"] / b["rps"]
        by_cpu = b["cpu_ms"] / a["cpu_ms"]
        verdict = "PASS" if ratio >= target else "MISS"
        lines.append(
            f"- {label}: {a['rps']:,.0f} / {b['rps']:,.0f} requests/s = {ratio:.2f}x "
            f"(target >= {target:g}x) **{verdict}**; by server CPU per request "
            f"{b['cpu_ms']:.2f} / {a['cpu_ms']:.2f} ms = {by_cpu:.2f}x"
        )

    for kind in models.MODELS:
        check(f"{kind}, loopml vs MLflow at concurrency 8", (kind, "loopml", 8),
              (kind, "mlflow", 8), 2.0)  # fmt: skip
        check(f"{kind}, loopml vs the bare limit at concurrency 8", (kind, "loopml", 8),
              (kind, "bare", 8), 0.7)  # fmt: skip
    check("xgboost, loopml micro-batched vs unbatched at concurrency 64",
          ("xgboost", "loopml-batched", 64), ("xgboost", "loopml", 64), 3.0)  # fmt: skip
    return lines


# -- main -------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per measurement")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each (2)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each; report the median")
    parser.add_argument("--concurrency", default="1,8,64", help="wrk connections, comma-separated")
    parser.add_argument("--models", default=",".join(models.MODELS))
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--batch-max-rows", type=int, default=64)
    parser.add_argument("--batch-max-wait-ms", type=float, default=2.0)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (server logs)")
    args = parser.parse_args()
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup or (1.0 if args.quick else 2.0)
    args.levels = [int(c) for c in args.concurrency.split(",")]
    args.model_list = [m for m in args.models.split(",") if m]
    args.server_list = [s for s in args.servers.split(",") if s]
    unknown = set(args.model_list) - set(models.MODELS) | set(args.server_list) - set(SERVERS)
    if unknown:
        parser.error(f"unknown model or server: {', '.join(sorted(unknown))}")
    return args


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    args = parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install -y wrk (taskset: util-linux)")
    load_before = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="loopml-bench-serving-"))
    servers: list[Server] = []
    results: dict[tuple[str, str, int], dict[str, Any]] = {}
    drops: list[float] = []  # per loopml measurement
    totals: dict[str, float] = {}  # "model/server": log drops since the server started
    try:
        step("loopml: register the models and deployments")
        ours = loopml_workspace(workdir / "loopml")
        step("MLflow: log the same models (peers venv)")
        mlflow = mlflow_models(workdir)
        agree = {k: ours[k] == mlflow["models"][k]["predictions"] for k in models.MODELS}
        for kind in args.model_list:
            step(f"{kind}: starting {', '.join(args.server_list)}")
            expected = ours[kind][models.REQUEST_ROW]
            servers = [
                start_server(n, kind, expected, workdir, mlflow, args) for n in args.server_list
            ]
            for server in servers:
                step(f"  {server.name} ready in {wait_ready(server):.1f} s")
            runs: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
            for conc in args.levels:
                for _ in range(args.rounds):
                    for server in servers:
                        result = measure(server, conc, args)
                        runs.setdefault((kind, server.name, conc), []).append(result)
                        if "dropped" in result:
                            drops.append(result["dropped"])
                            totals[f"{kind}/{server.name}"] = result["dropped_total"]
                        step(
                            f"  {server.name} c={conc}: {result['rps']:,.0f} requests/s, "
                            f"CPU {result['cpu_ms']:.2f} ms/request, "
                            f"p50 {result['p50_us'] / 1000:.2f} ms, p99 "
                            f"{result['p99_us'] / 1000:.2f} ms, errors {result['errors']}"
                            + (
                                f", log drops {result['dropped']:,.0f}"
                                if "dropped" in result
                                else ""
                            )
                        )
            for key in sorted(runs, key=lambda k: (SERVERS.index(k[1]), k[2])):
                results[key] = median_run(runs[key])
            for server in servers:
                server.stop()
            servers = []
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            step(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(header(mlflow, load_before, args)) + "\n")
    print(table(results, args.levels) + "\n")
    print("\n".join(verdicts(results)))
    same = ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in agree.items())
    print(
        f"- the same model on every side: loopml's and MLflow's predictions on the 150 iris "
        f"rows agree: {same}"
    )
    print(
        f"- loopml prediction-log drops (loopml_prediction_log_dropped on /metrics): "
        f"{sum(drops):,.0f} during the {len(drops)} measured loopml runs; each server's "
        f"total since its start, warm-ups included: "
        f"{', '.join(f'{k} {v:,.0f}' for k, v in totals.items()) or '-'}"
    )


if __name__ == "__main__":
    main()
