"""Pipelines benchmark: loopml's per-step overhead against plain Python calls and Prefect 3.

    .venv/bin/python bench/pipelines.py              # default sizes, about 2 minutes on 2 cores
    .venv/bin/python bench/pipelines.py --quick      # a smoke test
    .venv/bin/python bench/pipelines.py --profile    # also cProfile loopml's per-step overhead

loopml runs in this process (the project venv), in fresh workspaces in a temp folder. Prefect
runs in a subprocess under the peers venv (bench/.venv-peers, created from
bench/requirements-peers.txt when missing) through bench/_prefect_pipeline.py, local and
ephemeral (PREFECT_HOME in the temp folder, no PREFECT_API_URL). See bench/README.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import cProfile
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import platform
import pstats
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy

import loopml
from loopml.workspace import Workspace

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PEERS_VENV = BENCH_DIR / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
STEPS = 20
SLICE = 100  # values per fan-out slice


# -- the pipelines ----------------------------------------------------------------------------
def make_noop(index: int) -> Any:
    """Step `sNN`: takes the previous step's int and returns it + 1. Twenty distinct Step
    objects (so each gets its own code digest, as distinct functions would)."""

    def noop(x: int) -> int:
        return x + 1

    return loopml.step(name=f"s{index:02d}")(noop)


NOOPS = [make_noop(i) for i in range(1, STEPS + 1)]


@loopml.pipeline(name="bench_linear")
def linear(start: int = 0) -> None:
    x = NOOPS[0](start)
    for noop in NOOPS[1:]:
        x = noop(x)


def plain_chain(start: int = 0) -> int:
    """The same 20 functions as plain Python calls: the bound."""
    x = start
    for noop in NOOPS:
        x = noop.fn(x)
    return x


def spin(values: list[int], rounds: int) -> int:
    """Pure-Python CPU work (no sleep, holds the GIL): `rounds` passes over `values`."""
    acc = 0
    for _ in range(rounds):
        for v in values:
            acc = (acc * 31 + v) % 1_000_003
    return acc


@loopml.step
def source(width: int) -> list[int]:
    return list(range(width * SLICE))


@loopml.step
def burn(data: list[int], index: int, rounds: int) -> int:
    return spin(data[index * SLICE : (index + 1) * SLICE], rounds)  # = spin_slice(index)


@loopml.step
def gather(parts: list[int]) -> int:
    return sum(parts)


@loopml.pipeline(name="bench_fanout")
def fanout(width: int = 100, rounds: int = 1) -> None:
    data = source(width)
    gather([burn(data, i, rounds) for i in range(width)])


# -- loopml measurements ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Sizes:
    repeats: int  # fresh workspaces for the linear pipeline (uncached, cached, cache=False)
    prefect_warm: int  # warm Prefect flow runs after the first
    width: int  # fan-out steps
    work_ms: float  # CPU work per fan-out step
    fan_repeats: int  # repetitions of the fan-out (all four ways each)
    profile_runs: int  # profiled runs of each kind (with --profile)


def plain_seconds(repeats: int = 5, number: int = 20_000) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            plain_chain()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def timed_run(pipeline: Any, ws: Workspace, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = pipeline.run(workspace=ws, **kwargs)
    return time.perf_counter() - start, result


def check_linear(result: Any, cached: bool) -> None:
    if result.status.value != "FINISHED":
        raise SystemExit(f"the linear pipeline ended {result.status.value}: {result.error}")
    hits = sum(s.cached for s in result.steps)
    if len(result.steps) != STEPS or hits != (STEPS if cached else 0):
        raise SystemExit(f"expected {STEPS} steps, cached={cached}; got {hits} cache hits")
    if result.load(f"s{STEPS:02d}") != STEPS:
        raise SystemExit("the last step's output is not 20")


def loopml_linear(workdir: Path, repeats: int) -> dict[str, Any]:
    """Per fresh workspace: a first (uncached) run, a second (fully cached) run with the same
    parameters, then a `cache=False` run. One more workspace first, as a warm-up (imports and
    first-use work), reported apart."""
    ws = Workspace.init(workdir / "warmup")
    warmup_s, result = timed_run(linear, ws)
    check_linear(result, cached=False)
    ws.close()
    times: dict[str, list[float]] = {"uncached": [], "cached": [], "nocache": []}
    for index in range(repeats):
        ws = Workspace.init(workdir / f"linear-{index}")
        for kind, kwargs, cached in (
            ("uncached", {}, False),
            ("cached", {}, True),
            ("nocache", {"cache": False}, False),
        ):
            seconds, result = timed_run(linear, ws, **kwargs)
            check_linear(result, cached)
            times[kind].append(seconds)
        ws.close()
    return {"warmup_s": warmup_s, **times}


def calibrate_rounds(target_s: float) -> tuple[int, float]:
    """Rounds of `spin` over one slice that take about `target_s` here; and the time taken."""
    values = list(range(SLICE))
    rounds = 10
    while True:
        start = time.perf_counter()
        spin(values, rounds)
        took = time.perf_counter() - start
        if took > 0.02:
            break
        rounds *= 4
    rounds = max(1, round(rounds * target_s / took))
    checks = []
    for _ in range(3):
        start = time.perf_counter()
        spin(values, rounds)
        checks.append(time.perf_counter() - start)
    return rounds, statistics.median(checks)


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def slice_of(index: int) -> list[int]:
    return list(range(index * SLICE, (index + 1) * SLICE))


def spin_slice(index: int, rounds: int) -> int:
    return spin(slice_of(index), rounds)


def timed_cpu(work: Callable[[], Any]) -> dict[str, Any]:
    """Wall time, and CPU seconds of this process and of the children reaped meanwhile."""
    self0, kids0 = cpu_seconds()
    start = time.perf_counter()
    value = work()
    wall = time.perf_counter() - start
    self1, kids1 = cpu_seconds()
    return {
        "wall_s": wall,
        "cpu_self_s": self1 - self0,
        "cpu_children_s": kids1 - kids0,
        "value": value,
    }


def fanout_round(workdir: Path, index: int, width: int, rounds: int) -> dict[str, Any]:
    """One repetition of the four ways to do the fan-out's work, in this order: plain
    Python calls, a plain pool of spawned processes (the machine's ceiling), then loopml on
    the local and on the process executor (`cache=False`, a fresh workspace each)."""
    cores = os.cpu_count() or 1

    def plain() -> int:
        return sum(spin_slice(i, rounds) for i in range(width))

    def pool() -> int:
        spawn = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(cores, mp_context=spawn) as workers:
            return sum(workers.map(spin_slice, range(width), [rounds] * width))

    def on(executor: str) -> Callable[[], int]:
        def work() -> int:
            ws = Workspace.init(workdir / f"fanout-{executor}-{index}")
            result = fanout.run(
                workspace=ws, executor=executor, cache=False, width=width, rounds=rounds
            )
            ws.close()
            if result.status.value != "FINISHED":
                raise SystemExit(f"fan-out on {executor}: {result.status.value}: {result.error}")
            return int(result.load("gather"))

        return work

    out = {"plain": timed_cpu(plain), "pool": timed_cpu(pool)}
    out["local"] = timed_cpu(on("local"))
    out["process"] = timed_cpu(on("process"))
    if len({r["value"] for r in out.values()}) != 1:
        raise SystemExit(f"fan-out: the four ways gave different results: {out}")
    return out


def loopml_fanout(workdir: Path, width: int, work_ms: float, repeats: int) -> dict[str, Any]:
    rounds, step_s = calibrate_rounds(work_ms / 1000)
    return {
        "width": width,
        "rounds": rounds,
        "step_s": step_s,
        "rounds_run": [fanout_round(workdir, i, width, rounds) for i in range(repeats)],
    }


def cpu_probe() -> float:
    """Milliseconds of a fixed pure-Python loop: how fast this machine is right now (the
    VM's speed drifts with other load on its host)."""
    start = time.perf_counter()
    spin(slice_of(0), 2_000)
    return (time.perf_counter() - start) * 1000


# -- profile ----------------------------------------------------------------------------------
def profile_linear(workdir: Path, runs: int) -> dict[str, pstats.Stats]:
    """cProfile of `runs` uncached runs (fresh workspaces, after a warm-up) and of `runs`
    fully cached runs."""
    ws = Workspace.init(workdir / "profile-warmup")
    linear.run(workspace=ws)
    ws.close()
    profiles = {"uncached": cProfile.Profile(), "cached": cProfile.Profile()}
    for index in range(runs):
        ws = Workspace.init(workdir / f"profile-{index}")
        for kind in ("uncached", "cached"):
            profiles[kind].enable()
            linear.run(workspace=ws)
            profiles[kind].disable()
        ws.close()
    return {kind: pstats.Stats(p) for kind, p in profiles.items()}


def short_name(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{name} ({filename}:{line})"


def profile_tables(stats: pstats.Stats, steps: int, top: int) -> str:
    """Two tables, in ms per step (cProfile inflates them; compare the shares): loopml's own
    functions by cumulative time, then every function by its own time (the leaves)."""
    entries = stats.stats  # type: ignore[attr-defined]
    head = [
        "| function | calls/step | own ms/step | cumulative ms/step |",
        "|---|---|---|---|",
    ]

    def line(func: tuple[str, int, str], ncalls: int, tottime: float, cumtime: float) -> str:
        return (
            f"| {short_name(func)} | {ncalls / steps:,.1f} | {tottime / steps * 1000:,.3f} "
            f"| {cumtime / steps * 1000:,.3f} |"
        )

    ours = [(f, v) for f, v in entries.items() if "/loopml/" in f[0]]
    ours.sort(key=lambda item: item[1][3], reverse=True)
    leaves = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)
    lines = ["loopml functions by cumulative time:", "", *head]
    lines += [line(f, v[1], v[2], v[3]) for f, v in ours[:top]]
    lines += ["", "all functions by own time:", "", *head]
    lines += [line(f, v[1], v[2], v[3]) for f, v in leaves[: max(10, top // 2)]]
    return "\n".join(lines)


# -- Prefect side -----------------------------------------------------------------------------
def ensure_peers_venv() -> None:
    if PEERS_PYTHON.exists():
        return
    print(f"creating {PEERS_VENV} from requirements-peers.txt ...", file=sys.stderr)
    subprocess.run(["python3", "-m", "venv", str(PEERS_VENV)], check=True)
    requirements = BENCH_DIR / "requirements-peers.txt"
    pip = [str(PEERS_PYTHON), "-m", "pip", "install", "-q", "-r", str(requirements)]
    subprocess.run(pip, check=True)


def run_prefect(workdir: Path, warm: int) -> dict[str, Any]:
    ensure_peers_venv()
    out = workdir / "prefect.json"
    home = workdir / "prefect-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="true")
    command = [
        str(PEERS_PYTHON),
        str(BENCH_DIR / "_prefect_pipeline.py"),
        f"--out={out}",
        f"--warm={warm}",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"the Prefect side failed (exit {done.returncode})")
    results = json.loads(out.read_text())
    results["process_s"] = time.perf_counter() - start
    if set(results["values"]) != {STEPS}:
        raise SystemExit(f"Prefect's flow returned {results['values']}, expected {STEPS}")
    return results


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


def git_state() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    source = Path(loopml.__file__).resolve().parent.parent
    if source != REPO_DIR / "src":
        return f"repository HEAD {head}; loopml imported from {source}"
    changed = len(git("status", "--porcelain", "--", "src").splitlines())
    return f"HEAD {head}, " + (f"{changed} changed paths under src/" if changed else "clean src/")


def header(
    prefect: dict[str, Any] | None, load: tuple[str, str], probes: tuple[float, float]
) -> list[str]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    peer = f"; Prefect {prefect['versions']['prefect']}" if prefect else ""
    return [
        f"date: {now} (loopml at {git_state()})",
        f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} "
        f"{platform.release()}; load average before {load[0]}, after {load[1]}; "
        f"CPU probe (a fixed Python loop) {probes[0]:.0f} ms before, {probes[1]:.0f} ms after",
        f"loopml {loopml.__version__} (Python {platform.python_version()}, "
        f"SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}){peer}",
    ]


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} us plain"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def per_step(wall: float, plain: float) -> float:
    """Per-step overhead: (wall - the plain calls) / steps."""
    return (wall - plain) / STEPS


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table_rows(
    linear_times: dict[str, Any],
    plain: float,
    prefect: dict[str, Any] | None,
    fan: dict[str, Any],
) -> list[list[str]]:
    med = {k: statistics.median(linear_times[k]) for k in ("uncached", "cached", "nocache")}
    over = {k: per_step(v, plain) for k, v in med.items()}
    rng = {k: (min(linear_times[k]), max(linear_times[k])) for k in med}
    n = len(linear_times["uncached"])

    def linear_row(kind: str, label: str, limit: float | None) -> list[str]:
        low, high = rng[kind]
        wall = f"{ms(med[kind])} ({ms(low)}-{ms(high)})"
        target = f"<= {limit:g} ms/step" if limit else "-"
        met = verdict(over[kind] * 1000 <= limit) if limit else "-"
        ratio = f"{over[kind] / (plain / STEPS):,.0f}x plain"
        return [label, wall, f"{over[kind] * 1000:.2f} ms", us(plain), ratio, target, met]

    rows = [
        [
            f"plain Python: the {STEPS} functions called in a chain (the bound)",
            f"{plain * 1e6:.2f} us",
            f"{plain / STEPS * 1e9:.0f} ns (a call)",
            "-",
            "-",
            "-",
            "-",
        ],
        linear_row("uncached", f"loopml, first run, uncached (median of {n})", 20),
        linear_row("cached", f"loopml, second run, fully cached (median of {n})", 5),
        linear_row("nocache", f"loopml, `cache=False` run (median of {n})", None),
    ]
    if prefect:
        p_plain = prefect["plain_s"]
        warm = statistics.median(prefect["warm_s"])
        p_over = per_step(warm, p_plain)
        p_first = per_step(prefect["first_s"], p_plain)
        ratio = p_over / over["uncached"]
        rows.append(
            [
                f"Prefect {prefect['versions']['prefect']}, warm flow run "
                f"(median of {len(prefect['warm_s'])}; loopml: uncached)",
                f"{ms(warm)} ({ms(min(prefect['warm_s']))}-{ms(max(prefect['warm_s']))})",
                f"{p_over * 1000:.2f} ms",
                us(p_plain),
                f"loopml {ratio:,.1f}x lower",
                ">= 10x lower",
                verdict(ratio >= 10),
            ]
        )
        rows.append(
            [
                "Prefect, warm flow run vs loopml `cache=False`",
                ms(warm),
                f"{p_over * 1000:.2f} ms",
                us(p_plain),
                f"loopml {p_over / over['nocache']:,.1f}x lower",
                "-",
                "-",
            ]
        )
        rows.append(
            [
                "Prefect, first flow run (server already up)",
                ms(prefect["first_s"]),
                f"{p_first * 1000:.2f} ms",
                us(p_plain),
                f"loopml {p_first / over['uncached']:,.1f}x lower",
                "-",
                "-",
            ]
        )
    rows += fan_rows(fan)
    return rows


def fan_summary(fan: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per way: the median wall time and CPU cores busy (CPU seconds / wall) over the rounds."""
    summary = {}
    for way in ("plain", "pool", "local", "process"):
        runs = [r[way] for r in fan["rounds_run"]]
        summary[way] = {
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "cores": statistics.median(
                (r["cpu_self_s"] + r["cpu_children_s"]) / r["wall_s"] for r in runs
            ),
            "children_s": statistics.median(r["cpu_children_s"] for r in runs),
        }
    return summary


def fan_rows(fan: dict[str, Any]) -> list[list[str]]:
    cores = os.cpu_count() or 1
    width, n = fan["width"], len(fan["rounds_run"])
    sm = fan_summary(fan)
    plain, pool, local, proc = (sm[w] for w in ("plain", "pool", "local", "process"))
    speedup = local["wall_s"] / proc["wall_s"]
    ceiling = plain["wall_s"] / pool["wall_s"]
    wanted = 0.75 * cores
    return [
        [
            f"fan-out work as plain Python calls: {width} x {fan['step_s'] * 1000:.0f} ms CPU "
            f"(median of {n})",
            f"{plain['wall_s']:.2f} s",
            "-",
            "-",
            f"CPU {plain['cores']:.2f} cores",
            "-",
            "-",
        ],
        [
            f"same work on a plain spawned process pool, {cores} workers (no loopml)",
            f"{pool['wall_s']:.2f} s",
            "-",
            f"{plain['wall_s']:.2f} s plain",
            f"{ceiling:.2f}x faster (the machine's ceiling); CPU {pool['cores']:.2f} cores",
            "-",
            "-",
        ],
        [
            f"loopml fan-out 1 + {width} + 1 steps, executor=local",
            f"{local['wall_s']:.2f} s",
            f"{(local['wall_s'] - plain['wall_s']) / (width + 2) * 1000:.1f} ms",
            f"{plain['wall_s']:.2f} s plain",
            f"CPU {local['cores']:.2f} cores",
            "-",
            "-",
        ],
        [
            f"loopml fan-out, executor=process ({cores} workers)",
            f"{proc['wall_s']:.2f} s",
            "-",
            f"{pool['wall_s']:.2f} s plain pool",
            f"{speedup:.2f}x faster than local; CPU {proc['cores']:.2f} cores "
            f"({proc['children_s']:.1f} s in workers)",
            f"both cores: >= {wanted:g}x over local",
            verdict(speedup >= wanted),
        ],
    ]


def markdown_table(rows: list[list[str]]) -> str:
    head = ["measure", "wall", "overhead/step", "bound or peer", "ratio", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def notes(
    linear_times: dict[str, Any], prefect: dict[str, Any] | None, fan: dict[str, Any]
) -> list[str]:
    lines = [
        f"- loopml: {STEPS} steps `sNN(x: int) -> int` (x + 1), a linear chain; each run "
        "creates the pipeline run and 20 step runs, writes each output to the artifact store "
        "and reads the PipelineRun back (all timed). Per-step overhead = (wall - plain) / 20. "
        "Working directory: the temp folder (no git repository to capture).",
        f"- loopml warm-up (first pipeline run in this process, fresh workspace): "
        f"{ms(linear_times['warmup_s'])}; not in the medians.",
        f"- loopml runs, all: uncached {_ms_list(linear_times['uncached'])}; cached "
        f"{_ms_list(linear_times['cached'])}; cache=False {_ms_list(linear_times['nocache'])}.",
    ]
    if prefect:
        lines += [
            f"- Prefect {prefect['versions']['prefect']}: 20 `@task`s called directly in one "
            "`@flow`, ephemeral API server (SQLite under a temp PREFECT_HOME), default "
            "settings (no result persistence, console logging). Import "
            f"{prefect['import_s']:.1f} s, server start {prefect['server_start_s']:.1f} s, "
            f"first flow {ms(prefect['first_s'])}, warm flows {_ms_list(prefect['warm_s'])}; "
            f"the whole subprocess {prefect['process_s']:.1f} s.",
            f"- Prefect inside the flow body (first task call to last return, i.e. without "
            f"the flow run's own start and end): first {ms(prefect['body_first_s'])}, warm "
            f"{_ms_list(prefect['body_warm_s'])} = "
            f"{statistics.median(prefect['body_warm_s']) / STEPS * 1000:.1f} ms per task.",
        ]
    ways = ("plain", "pool", "local", "process")
    per_round = "; ".join(
        " / ".join(f"{r[w]['wall_s']:.2f}" for w in ways) for r in fan["rounds_run"]
    )
    lines += [
        f"- fan-out: `source` -> {fan['width']} x `burn` ({fan['rounds']:,} passes of a "
        f"Python loop over a {SLICE}-value slice, calibrated to {fan['step_s'] * 1000:.1f} ms "
        "at the start) -> `gather(list of outputs)`; loopml with `cache=False` in fresh "
        "workspaces. CPU cores = (CPU seconds of this process + of the children reaped "
        "meanwhile, from getrusage) / wall; the process executor's and the pool's spawned "
        "workers include their start-up and imports.",
        f"- fan-out walls per round, plain / pool / local / process: {per_round} s.",
    ]
    return lines


def _ms_list(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values) + " ms"


# -- main -------------------------------------------------------------------------------------
def parse_args() -> tuple[Sizes, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="fresh workspaces (linear)")
    parser.add_argument("--prefect-warm", type=int, default=5, help="warm Prefect flow runs")
    parser.add_argument("--width", type=int, default=100, help="fan-out steps")
    parser.add_argument("--work-ms", type=float, default=50.0, help="CPU ms per fan-out step")
    parser.add_argument("--fan-repeats", type=int, default=3, help="fan-out repetitions")
    parser.add_argument("--no-prefect", action="store_true", help="skip the Prefect side")
    parser.add_argument("--profile", action="store_true", help="cProfile the linear runs")
    parser.add_argument("--profile-runs", type=int, default=5, help="profiled runs per kind")
    parser.add_argument("--top", type=int, default=24, help="profile rows to print")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    args = parser.parse_args()
    if args.quick:
        return Sizes(2, 1, 20, 20.0, 1, 1), args
    return (
        Sizes(
            args.repeats,
            args.prefect_warm,
            args.width,
            args.work_ms,
            args.fan_repeats,
            args.profile_runs,
        ),
        args,
    )


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    sizes, args = parse_args()
    load_before, probe_before = load_average(), cpu_probe()
    home = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="loopml-bench-pipelines-") as tmp:
        workdir = Path(tmp)
        # Not a git repository: each run's code capture finds none (inside one, start_run
        # also runs git, at most every 5 s, and stores the uncommitted diff).
        os.chdir(workdir)
        step("plain Python: the 20 functions")
        plain = plain_seconds()
        step(f"loopml: linear pipeline of {STEPS} steps, {sizes.repeats} fresh workspaces")
        linear_times = loopml_linear(workdir, sizes.repeats)
        step(
            f"fan-out of {sizes.width} x {sizes.work_ms:g} ms, {sizes.fan_repeats} rounds: "
            "plain, plain pool, loopml local and process"
        )
        fan = loopml_fanout(workdir, sizes.width, sizes.work_ms, sizes.fan_repeats)
        prefect = None
        if not args.no_prefect:
            step("Prefect: the same 20 steps, in the peers venv (ephemeral server)")
            prefect = run_prefect(workdir, sizes.prefect_warm)
        load_after, probe_after = load_average(), cpu_probe()
        profiles = profile_linear(workdir, sizes.profile_runs) if args.profile else None
        os.chdir(home)
    print("\n".join(header(prefect, (load_before, load_after), (probe_before, probe_after))))
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}\n")
    print(markdown_table(table_rows(linear_times, plain, prefect, fan)))
    print("\n" + "\n".join(notes(linear_times, prefect, fan)))
    if profiles:
        for kind, stats in profiles.items():
            steps = sizes.profile_runs * STEPS
            print(
                f"\ncProfile, {kind} runs ({sizes.profile_runs} runs, {steps} steps; "
                "per step; profiling inflates times):\n"
            )
            print(profile_tables(stats, steps, args.top))


if __name__ == "__main__":
    main()
