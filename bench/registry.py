"""Registry benchmark: loading a registered 100-tree random forest, loopml against MLflow, and
registering and resolving model versions.

    .venv/bin/python bench/registry.py            # default sizes, a few minutes on 2 cores
    .venv/bin/python bench/registry.py --quick    # a smoke test

loopml runs in this process (the project venv); MLflow runs in a worker process under the
peers venv (bench/.venv-peers, bench/_mlflow_registry.py), driven over a pipe so that the two
tools' timings interleave; both fit the same forest from bench/_registry_data.py. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import json
import os
import pickle
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import _registry_data as data
import loopml
from loopml.artifacts import objects
from loopml.artifacts.objects import Stored
from loopml.workspace import Workspace
from tracking import PEERS_PYTHON, cpu_model, ensure_peers_venv, load_average

BENCH_DIR = Path(__file__).resolve().parent
REF = f"{data.MODEL}@{data.ALIAS}"
TINY = "tiny"
ALIAS_BOUND_S = 0.002


@dataclasses.dataclass(frozen=True)
class Sizes:
    loads: int  # warm loads timed after the first
    cold: int  # fresh processes timed (after one untimed)
    versions: int  # versions of the tiny model to register
    resolves: int  # name@champion resolutions
    lookups: int  # MLflow alias lookups


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}


# -- the forest, both sides interleaved -------------------------------------------------------
class MlflowWorker:
    """bench/_mlflow_registry.py under the peers venv: set up on start, then timed on demand."""

    def __init__(self, workdir: Path) -> None:
        ensure_peers_venv()
        self.log_path = workdir / "mlflow.log"
        self.log = self.log_path.open("w")
        command = [str(PEERS_PYTHON), str(BENCH_DIR / "_mlflow_registry.py"),
                   f"--workdir={workdir / 'mlflow'}"]  # fmt: skip
        pipe = subprocess.PIPE
        self.process = subprocess.Popen(
            command, cwd=BENCH_DIR, stdin=pipe, stdout=pipe, stderr=self.log, text=True
        )
        self.info: dict[str, Any] = {}

    def ready(self) -> dict[str, Any]:
        line = self._reply()
        self.info = json.loads(line)
        return self.info

    def timer(self, command: str) -> data.Timer:
        def run() -> float:
            assert self.process.stdin is not None
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
            return float(json.loads(self._reply())["s"])

        return run

    def _reply(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.log.flush()
            sys.stderr.write(self.log_path.read_text()[-4000:])
            raise SystemExit(f"the MLflow side failed (exit {self.process.wait()})")
        return line

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        self.process.wait(timeout=60)
        self.log.close()


def register_forest(folder: Path) -> tuple[Workspace, Any]:
    ws = Workspace.init(folder)
    version = loopml.registry.register(data.MODEL, data.make_forest(), workspace=ws)
    loopml.registry.set_alias(data.MODEL, data.ALIAS, version.version, workspace=ws)
    return ws, version


def load_steps(ws: Workspace, version: Any, folder: Path) -> dict[str, Callable[[], object]]:
    """`registry.load` whole and step by step (resolve, write the blob out verified, skops'
    type audit, skops' load), the same steps without the audit, and the bare bounds on the
    very bytes loopml stored."""
    import skops.io

    stored = Stored(version.digest, objects.FOLDER, version.size)
    counter = iter(range(10**9))

    def write_out() -> Path:
        target = folder / f"m{next(counter)}"
        objects.write_out(ws.artifacts, stored, target, what="bench")
        return target / "model.skops"

    path, trusted = write_out(), list(version.trusted_types)
    blob = pickle.dumps(skops.io.load(path, trusted=trusted), protocol=5)

    def without_audit() -> object:  # load's steps but the audit: skops' load checks types too
        loopml.registry.resolve(REF, workspace=ws)
        return skops.io.load(write_out(), trusted=trusted)

    return {
        "load": lambda: loopml.registry.load(REF, workspace=ws),
        "without_audit": without_audit,
        "resolve": lambda: loopml.registry.resolve(REF, workspace=ws),
        "write_out": write_out,
        "audit": lambda: skops.io.get_untrusted_types(file=path),
        "skops_load": lambda: skops.io.load(path, trusted=trusted),
        "pickle_loads": lambda: pickle.loads(blob),
    }


def forest_loads(workdir: Path, worker: MlflowWorker, sizes: Sizes) -> dict[str, Any]:
    """Warm loads of both tools (and loopml's steps) interleaved, then fresh processes."""
    folder = workdir / "forest"
    ws, version = register_forest(folder)
    steps = load_steps(ws, version, folder / "steps")
    info = worker.ready()
    timers = {f"loopml {k}": data.local_timer(v) for k, v in steps.items()}
    for command in ("load default", "bare default", "load cloudpickle", "bare cloudpickle"):
        timers[f"mlflow {command}"] = worker.timer(command)
    step(f"warm loads: {len(timers)} timings x {sizes.loads + 1} rounds, interleaved")
    warm = data.interleaved(timers, sizes.loads)
    fingerprint = data.fingerprint(loopml.registry.load(REF, workspace=ws).model)
    ws.close()
    prints: set[str] = set()
    load = f"import loopml\nmodel = loopml.registry.load({REF!r}).model"
    command = [sys.executable, "-c", data.cold_script(load)]
    cold = {"loopml": data.cold_timer(command, folder, clean_env(), prints)}
    for fmt in ("default", "cloudpickle"):
        peer = info[fmt]["cold_command"]
        cold[f"mlflow {fmt}"] = data.cold_timer(
            peer, workdir, {**os.environ, **info["env"]}, prints
        )
    step(f"fresh-process loads: {len(cold)} x {sizes.cold + 1} rounds, interleaved")
    return {
        "warm": warm,
        "cold": data.interleaved(cold, sizes.cold),
        "fingerprints": sorted({fingerprint, *prints}),
        "file_size": next((folder / "steps").glob("m*/model.skops")).stat().st_size,
    }


# -- loopml: many versions, one alias ---------------------------------------------------------
def tiny_models(count: int) -> list[Any]:
    """`count` distinct small logistic regressions (distinct blobs), fitted before timing."""
    from sklearn.linear_model import LogisticRegression

    x = [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [2.0, 1.0], [1.0, 2.0]]
    y = [0, 1, 0, 1, 1, 0]
    return [LogisticRegression(C=1.0 + i / 100).fit(x, y) for i in range(count)]


def loopml_aliases(folder: Path, sizes: Sizes) -> dict[str, Any]:
    ws = Workspace.init(folder)
    models = tiny_models(sizes.versions)
    times = []
    for model in models:
        start = time.perf_counter()
        loopml.registry.register(TINY, model, workspace=ws)
        times.append(time.perf_counter() - start)
    champion = sizes.versions // 2
    loopml.registry.set_alias(TINY, data.ALIAS, champion, workspace=ws)
    ref = f"{TINY}@{data.ALIAS}"
    resolved = loopml.registry.resolve(ref, workspace=ws)
    assert resolved.version == champion, resolved
    resolves = []
    for _ in range(sizes.resolves):
        start = time.perf_counter()
        loopml.registry.resolve(ref, workspace=ws)
        resolves.append(time.perf_counter() - start)
    result = {
        "register": data.summary(times),
        "register_total_s": sum(times),
        "resolve": data.summary(resolves),
        "queries_per_resolve": queries_per_call(
            ws, lambda: loopml.registry.resolve(ref, workspace=ws)
        ),
        "profile": profile_areas(lambda: loopml.registry.resolve(ref, workspace=ws), 1_000),
    }
    ws.close()
    return result


def queries_per_call(ws: Workspace, action: Callable[[], object]) -> int:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = ws.store.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def profile_areas(action: Callable[[], object], calls: int) -> dict[str, Any]:
    """Where a call's time goes: cProfile's own time per function, summed by area."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        action()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    areas: dict[str, float] = {}
    top = []
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in stats.items():
        area = _area(filename, function)
        areas[area] = areas.get(area, 0.0) + own
        top.append((own, f"{Path(filename).name}:{function}"))
    total = sum(areas.values())
    return {
        "calls": calls,
        "per_call_s": total / calls,
        "areas": {k: v / total for k, v in sorted(areas.items(), key=lambda kv: -kv[1])},
        "top": [(name, own / calls) for own, name in sorted(top, reverse=True)[:6]],
    }


def _area(filename: str, function: str) -> str:
    if "sqlite3" in function or "_sqlite3" in filename:
        return "SQLite (sqlite3 calls)"
    if "sqlalchemy" in filename:
        return "SQLAlchemy (building, compiling, executing, rows)"
    if "/loopml/" in filename:
        return "loopml (store, records, resolve)"
    return "Python built-ins and standard library"


# -- report -----------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds >= 0.01 else f"{seconds * 1000:,.3f} ms"


def sec(seconds: float) -> str:
    return f"{seconds:.2f} s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def speedup(ours: float, theirs: float) -> str:
    return f"{theirs / ours:.2f}x"


def header(info: dict[str, Any], load_before: str) -> list[str]:
    import sklearn
    import skops

    v = info["versions"]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"date: {now}",
        f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} "
        f"{platform.release()}; load average before {load_before}, after {load_average()}",
        f"versions: loopml {loopml.__version__} (Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, skops {skops.__version__}, SQLAlchemy "
        f"{sa.__version__}); MLflow {v['mlflow']} (Python {v['python']}, scikit-learn "
        f"{v['sklearn']}, skops {v['skops']}, in bench/.venv-peers)",
    ]


def load_rows(forest: dict[str, Any], info: dict[str, Any], sizes: Sizes) -> list[list[str]]:
    warm, cold = forest["warm"], forest["cold"]

    def med(table: dict[str, Any], name: str) -> float:
        return table[name]["median_s"]

    ours, theirs = med(warm, "loopml load"), med(warm, "mlflow load default")
    ours_cold, theirs_cold = med(cold, "loopml"), med(cold, "mlflow default")
    fmt = info["default"]["format"]
    warm_name = f"load `{REF}`, warm, median of {sizes.loads}"
    cold_name = f"load `{REF}` in a fresh process (start, import, load), median of {sizes.cold}"
    target = "not slower (>= 1x)"
    return [
        [f"{warm_name}; MLflow default ({fmt})", ms(ours), ms(theirs), speedup(ours, theirs),
         target, verdict(ours <= theirs)],
        [f"{warm_name}; MLflow cloudpickle", ms(ours), ms(med(warm, "mlflow load cloudpickle")),
         speedup(ours, med(warm, "mlflow load cloudpickle")), "-", "-"],
        [f"{cold_name}; MLflow default ({fmt})", sec(ours_cold), sec(theirs_cold),
         speedup(ours_cold, theirs_cold), target, verdict(ours_cold <= theirs_cold)],
        [f"{cold_name}; MLflow cloudpickle", sec(ours_cold), sec(med(cold, "mlflow cloudpickle")),
         speedup(ours_cold, med(cold, "mlflow cloudpickle")), "-", "-"],
        ["load over loading the model file alone (skops; MLflow cloudpickle: cloudpickle.load)",
         f"{ours / med(warm, 'loopml skops_load'):.2f}x",
         f"{theirs / med(warm, 'mlflow bare default'):.2f}x (cloudpickle "
         f"{med(warm, 'mlflow load cloudpickle') / med(warm, 'mlflow bare cloudpickle'):.2f}x)",
         "-", "-", "-"],
        ["loopml's load without its type audit (resolve, write out, `skops.io.load` with the "
         "recorded trusted types), warm median", ms(med(warm, "loopml without_audit")),
         ms(theirs), speedup(med(warm, "loopml without_audit"), theirs), "-", "-"],
        ["bound: `skops.io.load` of the same file, warm median",
         ms(med(warm, "loopml skops_load")), ms(med(warm, "mlflow bare default")), "-", "-", "-"],
        ["bound: `pickle.loads` of the same forest (MLflow: `cloudpickle.load` of its file)",
         ms(med(warm, "loopml pickle_loads")), ms(med(warm, "mlflow bare cloudpickle")),
         "-", "-", "-"],
    ]  # fmt: skip


def alias_rows(aliases: dict[str, Any], sizes: Sizes) -> list[list[str]]:
    reg, res, lookup = aliases["register"], aliases["resolve"], aliases["mlflow_lookup"]
    return [
        [f"register a tiny model, {sizes.versions:,} versions: per call",
         f"{ms(reg['median_s'])} median, {ms(reg['p99_s'])} p99 "
         f"({sizes.versions / aliases['register_total_s']:,.0f}/s)", "-", "-", "-", "-"],
        [f"resolve `{TINY}@{data.ALIAS}` among {sizes.versions:,} versions, {sizes.resolves:,} "
         f"calls (MLflow: `get_model_version_by_alias`, {sizes.lookups:,} calls, 1 version)",
         f"{ms(res['median_s'])} median, {ms(res['p99_s'])} p99",
         f"{ms(lookup['median_s'])} median, {ms(lookup['p99_s'])} p99",
         speedup(res["median_s"], lookup["median_s"]), "< 2 ms (median)",
         verdict(res["median_s"] < ALIAS_BOUND_S)],
    ]  # fmt: skip


def markdown_table(rows: list[list[str]]) -> str:
    head = ["operation", "loopml", "MLflow", "speed-up", "target", "result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def notes(forest: dict[str, Any], aliases: dict[str, Any], info: dict[str, Any]) -> list[str]:
    warm = forest["warm"]
    same = {*forest["fingerprints"], info["trained_fingerprint"], info["default"]["fingerprint"],
            info["cloudpickle"]["fingerprint"]}  # fmt: skip
    part = {k: warm[f"loopml {k}"]["median_s"] for k in ("resolve", "write_out", "audit")}
    profile = aliases["profile"]
    areas = ", ".join(f"{name} {share:.0%}" for name, share in profile["areas"].items())
    top = "; ".join(f"{name} {ms(s)}" for name, s in profile["top"])
    loads = ("loopml load", "mlflow load default", "mlflow load cloudpickle")
    firsts = ", ".join(f"{name} {ms(warm[name]['first_s'])}" for name in loads)
    return [
        f"- every load on both sides, in process and fresh, gave the trained forest's "
        f"predictions: {'yes' if len(same) == 1 else 'NO'}. Model files: loopml model.skops "
        f"{forest['file_size']:,} bytes, MLflow default {info['default']['file_size']:,} bytes, "
        f"MLflow cloudpickle {info['cloudpickle']['file_size']:,} bytes.",
        f"- loopml's load, step by step (medians, interleaved): resolve {ms(part['resolve'])}, "
        f"write out and verify the blob {ms(part['write_out'])}, skops type audit "
        f"(`get_untrusted_types`) {ms(part['audit'])}, `skops.io.load` (row above).",
        f"- first calls: {firsts}.",
        f"- resolve: {aliases['queries_per_resolve']} SQL statements per call, BEGIN included; "
        f"under cProfile {ms(profile['per_call_s'])} per call: {areas}.",
        f"- resolve, the top functions by own time per call: {top}.",
    ]


# -- main -------------------------------------------------------------------------------------
def parse_sizes() -> Sizes:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=20, help="warm loads timed")
    parser.add_argument("--cold", type=int, default=3, help="fresh-process loads timed")
    parser.add_argument("--versions", type=int, default=1_000, help="versions to register")
    parser.add_argument("--resolves", type=int, default=10_000, help="alias resolutions")
    parser.add_argument("--lookups", type=int, default=1_000, help="MLflow alias lookups")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    args = parser.parse_args()
    if args.quick:
        return Sizes(loads=5, cold=1, versions=100, resolves=1_000, lookups=100)
    return Sizes(args.loads, args.cold, args.versions, args.resolves, args.lookups)


def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    sizes = parse_sizes()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="loopml-bench-registry-") as tmp:
        workdir = Path(tmp)
        step("MLflow: starting its side (fit, log and register the forest twice)")
        worker = MlflowWorker(workdir)
        try:
            step("loopml: fit and register the forest")
            forest = forest_loads(workdir, worker, sizes)
            step(f"loopml: register {sizes.versions:,} versions, resolve {sizes.resolves:,} times")
            aliases = loopml_aliases(workdir / "aliases", sizes)
            step(f"MLflow: {sizes.lookups:,} alias lookups")
            lookups = data.interleaved({"lookup": worker.timer("lookup")}, sizes.lookups)
            aliases["mlflow_lookup"] = lookups["lookup"]
        finally:
            worker.close()
    info = worker.info
    print("\n".join(header(info, load_before)))
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}\n")
    print(markdown_table(load_rows(forest, info, sizes) + alias_rows(aliases, sizes)))
    print("\n" + "\n".join(notes(forest, aliases, info)))


if __name__ == "__main__":
    main()
