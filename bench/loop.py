"""Continuous-training benchmark (issue 8): `loopml demo`'s wall time by phase, and the
controller's own overhead per pass with 20 deployments in the store.

    .venv/bin/python bench/loop.py                  # 3 demos, the CLI demo, 50 passes (1-2 min)
    .venv/bin/python bench/loop.py --quick          # a smoke test: 1 demo, no CLI, 10 passes
    .venv/bin/python bench/loop.py --no-postgres    # SQLite only

1. `run_demo(folder)` in this process, `--demo-runs` times in fresh temp folders: the median
   total and the median of each phase the demo times itself (training, serving, monitoring =
   trigger checks, controller = gate and canary judging); then `loopml demo --workspace DIR`
   once as a fresh process, timed from spawn to exit. Target: under 60 s on 2 cores.
2. A workspace with one tiny registered model, 20 deployments of it, 20 datasets and a
   loopml.yaml with 20 policies whose triggers do not fire (a `schedule` that is not due and
   `new_data` on a dataset whose latest version the first pass recorded). After two untimed
   passes, `Controller(ws).run_once()` is timed `--passes` times, interleaved round by round
   with the bare store operations a pass cannot avoid: 20 `ws.store.loops.get`, 20 lease
   acquire+release round trips, 20 `datasets.get_version(name, "latest")`. Target: a pass
   under 100 ms. The same on PostgreSQL (a fresh schema, dropped after) when the server at
   LOOPML_TEST_POSTGRES_URI (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
   answers.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import os
import platform
import pstats
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy

import loopml
from tracking import cpu_model, load_average

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_BIN = Path(sys.executable).parent
DEMO_TARGET_S = 60.0
PASS_TARGET_S = 0.100
POSTGRES_URI = os.environ.get(
    "LOOPML_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PHASES = ("training", "serving", "monitoring", "controller")
CLI_TIMEOUT_S = 150.0
DEMO_BUDGET_S = 150.0  # no further in-process demo starts after this much of the script
PIPELINE_FILE = '''"""Named in loopml.yaml by the loop benchmark; its triggers never fire."""


def training(seed: int = 0):
    raise RuntimeError("the loop benchmark's pipeline should never run")
'''
POLICY = """\
  {deployment}:
    model: tiny
    pipeline: pipeline.py:training
    params: {{seed: {index}}}
    triggers:
      - schedule: "0 0 1 1 *"
      - new_data: {dataset}
      - manual
    gate:
      metric: accuracy
      min: {{accuracy: 0.5}}
      data: {{dataset: {dataset}, label: target}}
    canary:
      traffic: 0.2
      max_duration: 10m
    cooldown: 10m
"""


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q% of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


# -- 1. the demo ------------------------------------------------------------------------------
def phase_of(name: str) -> str:
    for phase in PHASES:
        if name.startswith(phase):
            return phase
    return name


def demo_in_process(folder: Path) -> dict[str, Any]:
    from rich.console import Console

    from loopml.demo.run import run_demo

    console = Console(file=io.StringIO(), width=140)
    start = time.perf_counter()
    result = run_demo(folder, console=console)
    wall = time.perf_counter() - start
    phases = dict.fromkeys(PHASES, 0.0)
    for name, seconds in result["timings"].items():
        phases[phase_of(name)] = phases.get(phase_of(name), 0.0) + seconds
    phases["other"] = result["total"] - sum(phases.values())
    return {"total": result["total"], "wall": wall, "phases": phases,
            "names": sorted(result["timings"])}  # fmt: skip


def demo_cli(folder: Path) -> dict[str, Any]:
    """`loopml demo --workspace DIR` as a fresh process: spawn to exit."""
    command = [str(PROJECT_BIN / "loopml"), "demo", "--workspace", str(folder)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=clean_env(), capture_output=True, text=True,
                              timeout=CLI_TIMEOUT_S)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"skipped": f"did not finish in {CLI_TIMEOUT_S:.0f} s"}
    except OSError as exc:
        return {"skipped": f"CLI not available ({exc})"}
    wall = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"skipped": f"exit {done.returncode}: {last}", "wall": wall}
    # the demo's own line: "done in 14.2s (controller (gate and canary) 1.0s, ...)"
    found = re.search(r"done in ([\d.]+)s \((.*)\)", done.stdout)
    inside = float(found[1]) if found else None
    return {"wall": wall, "inside": inside, "phases": found[2] if found else ""}


# -- 2. the controller's overhead -------------------------------------------------------------
@contextlib.contextmanager
def postgres_schema(server: str) -> Iterator[str]:
    """A store URI whose tables live in a fresh schema, dropped afterwards."""
    schema = f"bench_loop_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in server else "?"
    try:
        yield f"{server}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def postgres_available(server: str) -> str | None:
    """None when the server answers; otherwise why not."""
    try:
        engine = sqlalchemy.create_engine(server, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


def build_workspace(root: Path, deployments: int, store_uri: str | None) -> Any:
    """One tiny registered model, `deployments` deployments of it, one small dataset per
    deployment, and a loopml.yaml with one policy per deployment."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from loopml.core.config import resolve_config
    from loopml.data import api as datasets
    from loopml.registry import api as registry
    from loopml.serving import deployments as serving
    from loopml.workspace import Workspace

    (root / ".loopml" / "artifacts").mkdir(parents=True)
    env = clean_env()
    if store_uri is not None:
        env["LOOPML_STORE_URI"] = store_uri
        env["LOOPML_ARTIFACT_URI"] = (root / ".loopml" / "artifacts").as_uri()
    ws = Workspace.from_config(resolve_config(root, env=env))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    registry.register("tiny", LogisticRegression().fit(x, y), workspace=ws)
    ws.store.models.set_alias("tiny", "champion", 1, actor="bench", reason="loop benchmark")
    policies = []
    for index in range(deployments):
        name, dataset = f"api-{index:02d}", f"data-{index:02d}"
        serving.create(name, "tiny@champion", workspace=ws)
        csv = root / f"{dataset}.csv"
        lines = ["f0,f1,f2,f3,target"]
        rows = zip(x[:50], y[:50], strict=True)
        lines += [",".join(f"{v:.4f}" for v in row) + f",{t}" for row, t in rows]
        csv.write_text("\n".join(lines) + "\n")
        datasets.add(dataset, csv, workspace=ws)
        csv.unlink()
        policies.append(POLICY.format(deployment=name, dataset=dataset, index=index))
    (root / "pipeline.py").write_text(PIPELINE_FILE)
    (root / "loopml.yaml").write_text("policies:\n" + "".join(policies))
    return ws


class NoThreadKeepLease:
    """Diagnostic stand-in for `controller._KeepLease`: releases the lease at the end of the
    pass like the real one, but starts no renewal thread."""

    def __init__(self, loops: Any, lease: Any, ttl: float) -> None:
        self.loops, self.lease = loops, lease

    def __enter__(self) -> NoThreadKeepLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.loops.release(self.lease.deployment, self.lease.holder)


class NoLeaseLoops:
    """Diagnostic stand-in for `ws.store.loops`: the lease is granted in memory (no store
    round trip); reads and saves go to the real store."""

    def __init__(self, loops: Any) -> None:
        self._loops = loops

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loops, name)

    def acquire(self, deployment: str, holder: str, ttl: float) -> Any:
        from loopml.core.loops import Lease

        return Lease(deployment, holder, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl))

    def release(self, deployment: str, holder: str) -> None:
        pass


@contextlib.contextmanager
def patched(controller: Any, *, thread: bool, lease: bool) -> Iterator[None]:
    """Run passes with the renewal thread and/or the lease round trips taken out."""
    from loopml.automation import controller as module

    keep, loops = module._KeepLease, controller.loops
    if not thread:
        module._KeepLease = NoThreadKeepLease  # type: ignore[misc]
    if not lease:
        controller.loops = NoLeaseLoops(loops)
    try:
        yield
    finally:
        module._KeepLease = keep  # type: ignore[misc]
        controller.loops = loops


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def controller_overhead(
    root: Path, deployments: int, passes: int, store_uri: str | None, profile: bool
) -> dict[str, Any]:
    from loopml.automation.controller import Controller
    from loopml.core.loops import Phase

    start = time.perf_counter()
    ws = build_workspace(root, deployments, store_uri)
    build_s = time.perf_counter() - start
    config_start = time.perf_counter()
    controller = Controller(ws)
    config_s = time.perf_counter() - config_start
    names = sorted(controller.policies)
    datasets = {name: controller.policies[name].triggers[1].dataset for name in names}
    assert len(names) == deployments, names

    first = timed(controller.run_once)  # records each trigger's cursor (one save per loop)
    second = timed(controller.run_once)  # nothing left to record
    results = controller.run_once()
    fired = [r for r in results if r.steps or r.blocked or r.state.phase is not Phase.IDLE]
    if fired:
        raise SystemExit(f"a trigger fired or a lease was held: {fired[0]}")
    events = ws.store.loops.events(limit=1000)
    revisions = {ws.store.loops.get(name).revision for name in names}

    holder = "bench-bare"
    loops, store_datasets = ws.store.loops, ws.store.datasets

    def reads() -> None:
        for name in names:
            loops.get(name)

    def leases() -> None:
        for name in names:
            loops.acquire(name, holder, 120.0)
            loops.release(name, holder)

    def latest() -> None:
        for name in names:
            store_datasets.get_version(datasets[name], "latest")

    def threads() -> None:  # what _KeepLease adds to each deployment's pass, store aside
        for _ in names:
            with KeepLease(None, None, 120.0):
                pass

    from loopml.automation.controller import _KeepLease

    class KeepLease(_KeepLease):  # the real thread start and join; the release is not redone
        def __exit__(self, *exc: object) -> None:
            self._stop.set()
            self._thread.join(5)

    def pass_without(thread: bool, lease: bool) -> Callable[[], object]:
        def run() -> object:
            with patched(controller, thread=thread, lease=lease):
                return controller.run_once()

        return run

    samples: dict[str, list[float]] = {key: [] for key in
                                       ("pass", "no_thread", "no_lease", "reads", "leases",
                                        "latest", "threads")}  # fmt: skip
    for _ in range(passes):  # interleaved round by round: the VM's noise hits all alike
        samples["pass"].append(timed(controller.run_once))
        samples["no_thread"].append(timed(pass_without(thread=False, lease=True)))
        samples["no_lease"].append(timed(pass_without(thread=False, lease=False)))
        samples["threads"].append(timed(threads))
        samples["reads"].append(timed(reads))
        samples["leases"].append(timed(leases))
        samples["latest"].append(timed(latest))
    after = {ws.store.loops.get(name).revision for name in names}
    if after != revisions:
        raise SystemExit("a timed pass changed a loop state: the triggers were meant to stay quiet")

    profile_text = None
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(min(passes, 20)):
            controller.run_once()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)
        profile_text = out.getvalue()
    store = ws.config.store_uri.split(":", 1)[0].split("+", 1)[0]
    ws.close()
    summary = {
        key: {"median": statistics.median(v), "p95": percentile(v, 95), "min": min(v),
              "max": max(v)}
        for key, v in samples.items()
    }  # fmt: skip
    return {
        "deployments": deployments,
        "passes": passes,
        "build_s": build_s,
        "config_s": config_s,
        "first_s": first,
        "second_s": second,
        "events": len(events),
        "summary": summary,
        "profile": profile_text,
        "store": store,
    }


# -- report -----------------------------------------------------------------------------------
def yes_no(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def demo_table(runs: list[dict[str, Any]], cli: dict[str, Any] | None) -> str:
    head = ["run", "total", *PHASES, "other (setup, report, timeline)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for index, run in enumerate(runs, 1):
        cells = [f"in-process #{index}", f"{run['total']:.1f} s"]
        cells += [f"{run['phases'][p]:.1f} s" for p in (*PHASES, "other")]
        lines.append("| " + " | ".join(cells) + " |")
    median = {p: statistics.median(r["phases"][p] for r in runs) for p in (*PHASES, "other")}
    total = statistics.median(r["total"] for r in runs)
    cells = [f"**median of {len(runs)}**", f"**{total:.1f} s**"]
    cells += [f"{median[p]:.1f} s" for p in (*PHASES, "other")]
    lines.append("| " + " | ".join(cells) + " |")
    if cli is not None:
        if "skipped" in cli:
            cells = ["`loopml demo` (CLI)", f"skipped: {cli['skipped']}"] + ["-"] * 5
        else:
            inside = f"; the demo's own total {cli['inside']:.1f} s" if cli["inside"] else ""
            cells = ["`loopml demo --workspace DIR`, spawn to exit",
                     f"{cli['wall']:.1f} s{inside}"] + ["-"] * 5  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def demo_verdict(runs: list[dict[str, Any]], cli: dict[str, Any] | None) -> str:
    total = statistics.median(r["total"] for r in runs)
    worst = max(r["total"] for r in runs)
    text = (f"demo target (< {DEMO_TARGET_S:.0f} s on 2 cores): in-process median "
            f"{total:.1f} s (slowest {worst:.1f} s) {yes_no(worst < DEMO_TARGET_S)}")  # fmt: skip
    if cli is not None and "skipped" not in cli:
        text += f"; CLI {cli['wall']:.1f} s {yes_no(cli['wall'] < DEMO_TARGET_S)}"
    return text


def controller_table(results: list[dict[str, Any]]) -> str:
    head = ["store", "operation (20 deployments)", "median", "p95", "per deployment (median)",
            "pass / this", "target", "met"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in results:
        s, n, store = result["summary"], result["deployments"], result["store"]
        base = s["pass"]["median"]
        rows = [
            ("pass", f"`Controller(ws).run_once()`, median of {result['passes']}",
             f"< {PASS_TARGET_S * 1000:.0f} ms", yes_no(base < PASS_TARGET_S)),
            ("reads", f"{n} x `ws.store.loops.get(name)`", "-", "-"),
            ("leases", f"{n} x lease acquire + release", "-", "-"),
            ("latest", f"{n} x `store.datasets.get_version(name, 'latest')`", "-", "-"),
        ]  # fmt: skip
        for key, label, target, met in rows:
            m = s[key]["median"]
            cells = [store, label, ms(m), ms(s[key]["p95"]), ms(m / n),
                     "1.0x" if key == "pass" else f"{base / m:.1f}x", target, met]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        bare = s["reads"]["median"] + s["leases"]["median"] + s["latest"]["median"]
        cells = [store, "sum of the three store rows (the store work a quiet pass does)",
                 ms(bare), "-", ms(bare / n), f"{base / bare:.1f}x", "-", "-"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
        diagnostics = [
            ("threads", f"{n} x lease-renewal thread start + stop (`_KeepLease`, no store)"),
            ("no_thread", "diagnostic: a pass without the renewal thread"),
            ("no_lease", "diagnostic: a pass without the thread and the lease round trips"),
        ]  # fmt: skip
        for key, label in diagnostics:
            m = s[key]["median"]
            cells = [store, label, ms(m), ms(s[key]["p95"]), ms(m / n), f"{base / m:.1f}x",
                     f"< {PASS_TARGET_S * 1000:.0f} ms" if key != "threads" else "-",
                     yes_no(m < PASS_TARGET_S) if key != "threads" else "-"]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def controller_notes(result: dict[str, Any]) -> list[str]:
    s = result["summary"]["pass"]
    return [
        f"- {result['store']}: building the workspace (model, {result['deployments']} "
        f"deployments, {result['deployments']} datasets, loopml.yaml) {result['build_s']:.1f} s; "
        f"`Controller(ws)` (loads and validates loopml.yaml) {ms(result['config_s'])}; first pass "
        f"(records the trigger cursors: one save per loop) {ms(result['first_s'])}, second "
        f"{ms(result['second_s'])}; timed passes min {ms(s['min'])}, max {ms(s['max'])}; "
        f"timeline entries after all passes: {result['events']} (none expected).",
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-runs", type=int, default=3, help="in-process demo runs")
    parser.add_argument("--no-cli", action="store_true", help="skip the `loopml demo` process")
    parser.add_argument("--deployments", type=int, default=20)
    parser.add_argument("--passes", type=int, default=50, help="timed controller passes")
    parser.add_argument("--pg-passes", type=int, default=20, help="the same on PostgreSQL")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of 20 passes (SQLite) after the tables")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="1 demo, no CLI, 10 passes")
    args = parser.parse_args()
    if args.quick:
        args.demo_runs, args.no_cli, args.passes, args.pg_passes = 1, True, 10, 5
    return args


def main() -> None:
    args = parse_args()
    load_before = load_average()
    started = time.perf_counter()
    controllers = []
    with tempfile.TemporaryDirectory(prefix="loopml-bench-loop-") as tmp:
        workdir = Path(tmp)
        step(f"controller: {args.deployments} deployments, {args.passes} passes, SQLite")
        controllers.append(controller_overhead(workdir / "sqlite", args.deployments,
                                               args.passes, None, args.profile))  # fmt: skip
        postgres_note = "skipped (--no-postgres)"
        if not args.no_postgres:
            why = postgres_available(POSTGRES_URI)
            if why is None:
                step("controller: the same on PostgreSQL (a fresh schema)")
                with postgres_schema(POSTGRES_URI) as uri:
                    controllers.append(controller_overhead(workdir / "postgres", args.deployments,
                                                           args.pg_passes, uri, False))  # fmt: skip
                postgres_note = f"a fresh schema on {POSTGRES_URI}"
            else:
                postgres_note = f"skipped: cannot connect to {POSTGRES_URI}: {why}"
        runs = []
        for index in range(args.demo_runs):
            if runs and time.perf_counter() - started > DEMO_BUDGET_S:
                step(f"time budget spent: {len(runs)} demo runs instead of {args.demo_runs}")
                break
            step(f"demo in process, run {index + 1} of {args.demo_runs}")
            runs.append(demo_in_process(workdir / f"demo-{index}"))
        cli = None
        if not args.no_cli:
            step("demo as a fresh process: loopml demo --workspace DIR")
            cli = demo_cli(workdir / "demo-cli")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"date: {now}")
    print(f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} "
          f"{platform.release()}; load average before {load_before}, "
          f"after {load_average()}")  # fmt: skip
    print(f"loopml {loopml.__version__} (Python {platform.python_version()}, SQLAlchemy "
          f"{sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}); PostgreSQL: "
          f"{postgres_note}")  # fmt: skip
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])} "
          f"({time.perf_counter() - started:.0f} s)\n")  # fmt: skip
    if runs:
        print(demo_table(runs, cli))
        print(f"\n{demo_verdict(runs, cli)}")
        print(f"demo phase names: {', '.join(runs[0]['names'])}; 'other' is the demo's total "
              "minus its timed phases\n")  # fmt: skip
    print(controller_table(controllers))
    print()
    for result in controllers:
        print("\n".join(controller_notes(result)))
    for result in controllers:
        if result["profile"]:
            print(f"\ncProfile of {min(result['passes'], 20)} passes ({result['store']}):")
            print(result["profile"])


if __name__ == "__main__":
    main()
