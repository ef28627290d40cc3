"""Data benchmark: `loopml data add` against DVC 3.x `dvc add`, side by side in one run.

    .venv/bin/python bench/data.py              # default sizes (20,000 x 4 KiB, 1 GiB, 1M x 50)
    .venv/bin/python bench/data.py --quick      # a smoke test in about a minute

Every add is the whole command run as a fresh process (`.venv/bin/loopml data add NAME PATH`,
`bench/.venv-peers/bin/dvc add PATH`) in a fresh folder (`loopml init`, or `git init && dvc
init`, not timed), several times, reporting the median. DVC runs from its own venv
(bench/.venv-peers, created from bench/requirements-peers.txt when missing), never from the
project venv. The bench writes its own random files, first a bare baseline for each case (raw
multithreaded BLAKE3 over an mmap, `cp -r`), and deletes everything at the end. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import blake3

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_BIN = Path(sys.executable).parent
LOOPML = PROJECT_BIN / "loopml"
PEERS_VENV = BENCH_DIR / ".venv-peers"
PEERS_BIN = PEERS_VENV / "bin"
DVC = PEERS_BIN / "dvc"
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
FILES_PER_FOLDER = 1000


@dataclasses.dataclass(frozen=True)
class Sizes:
    files: int  # small files in the folder case
    file_size: int
    big: int  # bytes of the one large file
    rows: int  # rows x cols for profiling
    cols: int
    repeats: int  # repetitions of each timed command (median reported)
    hash_repeats: int  # interleaved repetitions of in-process hashing
    profile_repeats: int  # repetitions of in-process profiling


# -- helpers ----------------------------------------------------------------------------------
def step(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pair(ours: Sample, theirs: Sample) -> str:
    return (
        f"loopml {ours.wall:.2f} s (CPU {ours.cpu:.2f} s), "
        f"DVC {theirs.wall:.2f} s (CPU {theirs.cpu:.2f} s)"
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def summary(values: list[float] | list[Sample]) -> dict[str, Any]:
    walls = [v.wall if isinstance(v, Sample) else v for v in values]
    out = {"median_s": median(walls), "min_s": min(walls), "max_s": max(walls), "all": walls}
    if values and isinstance(values[0], Sample):
        out["cpu_s"] = median([v.cpu for v in values])  # type: ignore[union-attr]
    return out


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit(f"`{' '.join(command)}` failed (exit {done.returncode}) in {cwd}")
    return done


class Sample(NamedTuple):
    wall: float
    cpu: float  # user + system seconds of the command and the children it waited for


def timed(
    command: list[str], cwd: Path, env: dict[str, str], check: Callable[[str], bool] | None = None
) -> Sample:
    """Wall and CPU time of one whole command as a fresh process. Dirty pages left by earlier
    steps are written out first (not timed), so a command never pays for another's writes."""
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit(f"`{' '.join(command)}` failed (exit {done.returncode}) in {cwd}")
    if check is not None and not check(done.stdout + done.stderr):
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
        raise SystemExit(f"`{' '.join(command)}` in {cwd} did not do what was expected")
    return Sample(elapsed, cpu)


def loopml_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}


def dvc_env(workdir: Path) -> dict[str, str]:
    """DVC with no analytics, no update check, and its site cache and configs in the workdir."""
    drop = ("DVC_", "GIT_", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(workdir / "dvc-site-cache"),
        DVC_GLOBAL_CONFIG_DIR=str(workdir / "dvc-global-config"),
        DVC_SYSTEM_CONFIG_DIR=str(workdir / "dvc-system-config"),
        PATH=f"{PEERS_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def ensure_peers_venv() -> None:
    if DVC.exists():
        return
    print(f"creating {PEERS_VENV} from requirements-peers.txt ...", file=sys.stderr)
    if not (PEERS_BIN / "python").exists():
        subprocess.run(["python3", "-m", "venv", str(PEERS_VENV)], check=True)
    requirements = BENCH_DIR / "requirements-peers.txt"
    pip = [str(PEERS_BIN / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)]
    subprocess.run(pip, check=True)


# -- data -------------------------------------------------------------------------------------
def make_folder(root: Path, files: int, size: int) -> float:
    """`files` files of `size` random bytes, 1,000 to a subfolder; returns files per second
    (a filesystem slowed down by recent mass deletions shows here first)."""
    start = time.perf_counter()
    for i in range(files):
        folder = root / f"part-{i // FILES_PER_FOLDER:03d}"
        if i % FILES_PER_FOLDER == 0:
            folder.mkdir(parents=True)
        (folder / f"file-{i:06d}.bin").write_bytes(os.urandom(size))
    return files / (time.perf_counter() - start)


def make_big(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = min(left, 16 * MiB)
            out.write(os.urandom(chunk))
            left -= chunk


def copy_in(source: Path, dest: Path) -> None:
    """A fresh copy of the data for one repository (not timed): DVC adds only paths inside its
    repository, and it rewrites an input that is a hard link (a file with more than one link
    looks linked to its cache), so each tool gets plain files of its own."""
    subprocess.run(["cp", "-r", str(source), str(dest)], check=True)


def make_table(rows: int, cols: int) -> Any:
    """`cols` columns: 80 % float64, 10 % int64, 10 % low-cardinality strings."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    n_str = max(1, cols // 10)
    n_int = max(1, cols // 10)
    n_float = cols - n_str - n_int
    columns: dict[str, Any] = {}
    for j in range(n_float):
        values = rng.normal(j, 1 + j, rows)
        values[rng.random(rows) < 0.01] = np.nan  # 1 % missing
        columns[f"f{j}"] = values
    for j in range(n_int):
        columns[f"i{j}"] = rng.integers(0, 1000 * (j + 1), rows)
    categories = np.array([f"cat-{k}" for k in range(50)], dtype=object)
    for j in range(n_str):
        columns[f"s{j}"] = pa.array(categories[rng.integers(0, 50, rows)], pa.string())
    return pa.table(columns)


# -- cases ------------------------------------------------------------------------------------
def folder_adds(work: Path, source: Path, repeats: int) -> dict[str, Any]:
    """Add the folder with each tool `repeats` times, alternating, each in a fresh folder."""
    lm_env, dv_env = loopml_env(), dvc_env(work)
    lm_times: list[Sample] = []
    dvc_times: list[Sample] = []
    for i in range(repeats):
        lm_dir = work / f"lm-folder-{i}"
        lm_dir.mkdir()
        run([str(LOOPML), "init", "."], lm_dir, lm_env)
        copy_in(source, lm_dir / "data")
        lm_times.append(
            timed(
                [str(LOOPML), "data", "add", "files", "data"],
                lm_dir,
                lm_env,
                lambda out: "added files@1" in out,
            )
        )
        dvc_dir = work / f"dvc-folder-{i}"
        init_dvc(dvc_dir, dv_env)
        copy_in(source, dvc_dir / "data")
        dvc_times.append(
            timed(
                [str(DVC), "add", "-q", "data"],
                dvc_dir,
                dv_env,
                lambda _out, d=dvc_dir: (d / "data.dvc").exists(),
            )
        )
        step(f"  folder add {i + 1}/{repeats}: {pair(lm_times[-1], dvc_times[-1])}")
    return {"loopml": summary(lm_times), "dvc": summary(dvc_times)}


def readds(work: Path, repeats: int) -> dict[str, Any]:
    """Add the same, unchanged folder again in the repositories of the first folder add."""
    lm_env, dv_env = loopml_env(), dvc_env(work)
    lm_dir, dvc_dir = work / "lm-folder-0", work / "dvc-folder-0"
    dvc_file = dvc_dir / "data.dvc"
    before = dvc_file.read_text()
    lm_times: list[Sample] = []
    dvc_times: list[Sample] = []
    for i in range(repeats):
        lm_times.append(
            timed(
                [str(LOOPML), "data", "add", "files", "data"],
                lm_dir,
                lm_env,
                lambda out: "unchanged, still files@1" in out,
            )
        )
        dvc_times.append(timed([str(DVC), "add", "-q", "data"], dvc_dir, dv_env))
        step(f"  re-add {i + 1}/{repeats}: {pair(lm_times[-1], dvc_times[-1])}")
    if dvc_file.read_text() != before:
        raise SystemExit("DVC's re-add changed data.dvc: the folder was not unchanged")
    floor = [timed([str(LOOPML), "data", "ls"], lm_dir, lm_env) for _ in range(repeats)]
    dvc_floor = [timed([str(DVC), "--version"], dvc_dir, dv_env) for _ in range(repeats)]
    return {
        "loopml": summary(lm_times),
        "dvc": summary(dvc_times),
        "loopml_floor": summary(floor),
        "dvc_floor": summary(dvc_floor),
    }


def big_adds(work: Path, source: Path, repeats: int) -> dict[str, Any]:
    """Add the one large file with each tool; each folder is deleted after its add (one big
    blob: deleting it is cheap, and disk use stays at a few copies)."""
    lm_env, dv_env = loopml_env(), dvc_env(work)
    lm_times: list[Sample] = []
    dvc_times: list[Sample] = []
    for i in range(repeats):
        lm_dir = work / f"lm-big-{i}"
        lm_dir.mkdir()
        run([str(LOOPML), "init", "."], lm_dir, lm_env)
        copy_in(source, lm_dir / "big.bin")
        lm_times.append(
            timed(
                [str(LOOPML), "data", "add", "big", "big.bin"],
                lm_dir,
                lm_env,
                lambda out: "added big@1" in out,
            )
        )
        shutil.rmtree(lm_dir)
        dvc_dir = work / f"dvc-big-{i}"
        init_dvc(dvc_dir, dv_env)
        copy_in(source, dvc_dir / "big.bin")
        dvc_times.append(
            timed(
                [str(DVC), "add", "-q", "big.bin"],
                dvc_dir,
                dv_env,
                lambda _out, d=dvc_dir: (d / "big.bin.dvc").exists(),
            )
        )
        shutil.rmtree(dvc_dir)
        step(f"  1 file add {i + 1}/{repeats}: {pair(lm_times[-1], dvc_times[-1])}")
    return {"loopml": summary(lm_times), "dvc": summary(dvc_times)}


def init_dvc(folder: Path, env: dict[str, str]) -> None:
    folder.mkdir()
    run(["git", "init", "-q"], folder, env)
    run([str(DVC), "init", "-q"], folder, env)
    run([str(DVC), "config", "core.check_update", "false"], folder, env)
    run([str(DVC), "config", "core.analytics", "false"], folder, env)


def copy_baselines(work: Path, folder: Path, big: Path, repeats: int) -> dict[str, Any]:
    """`cp -r` of the folder (the bound for any tool that stores a copy of each file), the
    sync that makes the copy durable, and `cp` of the large file."""
    env = dict(os.environ)
    cp_r: list[Sample] = []
    cp_big: list[Sample] = []
    sync_r: list[float] = []
    sync_big: list[float] = []
    for i in range(repeats):
        cp_r.append(timed(["cp", "-r", str(folder), str(work / f"cp-folder-{i}")], work, env))
        start = time.perf_counter()
        os.sync()
        sync_r.append(time.perf_counter() - start)
        cp_big.append(timed(["cp", str(big), str(work / "cp-big.bin")], work, env))
        start = time.perf_counter()
        os.sync()
        sync_big.append(time.perf_counter() - start)
        (work / "cp-big.bin").unlink()
    return {
        "cp_r": summary(cp_r),
        "cp_r_sync": summary(sync_r),
        "cp_big": summary(cp_big),
        "cp_big_sync": summary(sync_big),
    }


def hashing(work: Path, big: Path, folder: Path, repeats: int) -> dict[str, Any]:
    """In-process: loopml's file digest against BLAKE3's own multithreaded mmap hashing of the
    same file, and loopml hashing the folder (no stat cache) for reference."""
    from loopml.artifacts.hashing import digest_file
    from loopml.data import manifest
    from loopml.data.statcache import StatCache

    def raw_blake3(threads: int) -> str:
        hasher = blake3.blake3(max_threads=threads)
        hasher.update_mmap(str(big))
        return hasher.hexdigest()

    def md5() -> str:
        digest = hashlib.md5()
        with open(big, "rb") as handle:
            while chunk := handle.read(16 * MiB):
                digest.update(chunk)
        return digest.hexdigest()

    actions: dict[str, Callable[[], str]] = {
        "blake3_mt": lambda: raw_blake3(blake3.blake3.AUTO),
        "loopml": lambda: digest_file(big),
        "blake3_1": lambda: raw_blake3(1),
        "md5": md5,
    }
    expected = raw_blake3(blake3.blake3.AUTO)  # also pages the file in
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeats):  # interleaved, so a busy moment hits every contender alike
        for name, action in actions.items():
            start = time.perf_counter()
            result = action()
            times[name].append(time.perf_counter() - start)
            if name == "loopml" and result != expected:
                raise SystemExit("loopml's digest differs from BLAKE3's")

    files = manifest.scan(folder)
    folder_times = []
    for i in range(repeats):
        cache = StatCache(work / f"statcache-{i}" / "stat.db")  # empty: every file is read
        try:
            start = time.perf_counter()
            manifest.hash_files(files, cache, folder)
            folder_times.append(time.perf_counter() - start)
        finally:
            cache.close()
    return {
        **{name: summary(values) for name, values in times.items()},
        "folder": summary(folder_times),
        "folder_bytes": sum(f.size for f in files),
    }


def profiling(work: Path, sizes: Sizes) -> dict[str, Any]:
    """Schema inference + statistics profile of a rows x cols table (what `data add` computes
    for tabular data), in process; then the whole `loopml data add` of it as a Parquet file."""
    import pyarrow.parquet as pq

    from loopml.data.profile import profile_table
    from loopml.data.schema import infer_schema

    table = make_table(sizes.rows, sizes.cols)
    times = []
    for _ in range(sizes.profile_repeats):
        start = time.perf_counter()
        profile_table(table, infer_schema(table))
        times.append(time.perf_counter() - start)
    folder = work / "lm-table"
    folder.mkdir()
    env = loopml_env()
    run([str(LOOPML), "init", "."], folder, env)
    pq.write_table(table, folder / "table.parquet")
    size = (folder / "table.parquet").stat().st_size
    del table
    whole = [
        timed(
            [str(LOOPML), "data", "add", "table", "table.parquet"],
            folder,
            env,
            lambda out: "added table@1" in out,
        )
    ]
    shutil.rmtree(folder)
    return {"profile": summary(times), "add": summary(whole), "parquet_bytes": size}


# -- report -----------------------------------------------------------------------------------
def cpu_probe() -> float:
    """Milliseconds of a fixed pure-Python loop: how fast this VM is right now."""
    start = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i & 7
    return (time.perf_counter() - start) * 1000


def loopml_source() -> str:
    import loopml

    source = Path(loopml.__file__).resolve().parent.parent
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True
    ).stdout.strip()
    return f"repository HEAD {head or '?'}; loopml imported from {source}"


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


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / (1 << 20):.0f} GiB"
    except OSError:
        pass
    return "?"


def versions() -> dict[str, str]:
    import loopml

    dvc = subprocess.run([str(DVC), "--version"], capture_output=True, text=True).stdout.strip()
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {"loopml": loopml.__version__, "dvc": dvc, "blake3": blake3.__version__, "git": git}


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def spread(s: dict[str, Any]) -> str:
    text = f"{secs(s['median_s'])} ({secs(s['min_s'])}-{secs(s['max_s'])})"
    return text + (f", CPU {secs(s['cpu_s'])}" if "cpu_s" in s else "")


def gbps(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e9:.2f} GB/s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def size_label(nbytes: int) -> str:
    if nbytes >= GiB:
        return f"{nbytes / GiB:g} GiB"
    if nbytes >= MiB:
        return f"{nbytes / MiB:g} MiB"
    return f"{nbytes / KiB:g} KiB"


def speedup(case: dict[str, Any]) -> str:
    """Wall-time ratio (the target), and the CPU-time ratio (steadier on a shared machine)."""
    ours, theirs = case["loopml"], case["dvc"]
    return (
        f"{theirs['median_s'] / ours['median_s']:.1f}x (CPU {theirs['cpu_s'] / ours['cpu_s']:.1f}x)"
    )


def table_rows(r: dict[str, Any], sizes: Sizes) -> list[list[str]]:
    folder, big, readd = r["folder"], r["big"], r["readd"]
    hashed, prof = r["hashing"], r["profiling"]
    n = f"{sizes.files:,} files of {size_label(sizes.file_size)}"
    rows = []
    for label, case, need in (
        (f"`data add` {n}", folder, 3.0),
        (f"`data add` one {size_label(sizes.big)} file", big, 3.0),
    ):
        ratio = case["dvc"]["median_s"] / case["loopml"]["median_s"]
        rows.append(
            [
                label,
                spread(case["loopml"]),
                spread(case["dvc"]),
                speedup(case),
                f">= {need:g}x",
                verdict(ratio >= need),
            ]
        )
    ratio = readd["dvc"]["median_s"] / readd["loopml"]["median_s"]
    ok = ratio >= 5 and readd["loopml"]["median_s"] < 0.5
    rows.append(
        [
            f"re-add the unchanged {sizes.files:,} files (no-op)",
            spread(readd["loopml"]),
            spread(readd["dvc"]),
            speedup(readd),
            ">= 5x, < 0.5 s",
            verdict(ok),
        ]
    )
    share = hashed["blake3_mt"]["median_s"] / hashed["loopml"]["median_s"]
    rows.append(
        [
            f"hash the {size_label(sizes.big)} file (loopml vs raw BLAKE3, threads, mmap)",
            gbps(sizes.big, hashed["loopml"]["median_s"]),
            f"BLAKE3 {gbps(sizes.big, hashed['blake3_mt']['median_s'])}",
            f"{share:.0%} of BLAKE3",
            ">= 70% of BLAKE3",
            verdict(share >= 0.7),
        ]
    )
    p = prof["profile"]["median_s"]
    rows.append(
        [
            f"profile {sizes.rows:,} rows x {sizes.cols} columns (schema + statistics)",
            spread(prof["profile"]),
            "-",
            "-",
            "< 10 s",
            verdict(p < 10),
        ]
    )
    return rows


def baseline_rows(r: dict[str, Any], sizes: Sizes) -> list[list[str]]:
    cp, hashed, prof, big = r["copy"], r["hashing"], r["profiling"], sizes.big
    return [
        [
            "`loopml data ls` in the re-add's workspace (start-up, open the store, one query)",
            spread(r["readd"]["loopml_floor"]),
        ],
        ["`dvc --version` (DVC's start-up)", spread(r["readd"]["dvc_floor"])],
        [f"`cp -r` of the {sizes.files:,}-file folder", spread(cp["cp_r"])],
        ["  then `sync` (writing that copy to disk)", spread(cp["cp_r_sync"])],
        [f"`cp` of the {size_label(big)} file", spread(cp["cp_big"])],
        ["  then `sync`", spread(cp["cp_big_sync"])],
        [
            f"BLAKE3, {size_label(big)} file, mmap, max_threads=AUTO",
            f"{spread(hashed['blake3_mt'])}, {gbps(big, hashed['blake3_mt']['median_s'])}",
        ],
        [
            f"BLAKE3, {size_label(big)} file, mmap, 1 thread",
            f"{spread(hashed['blake3_1'])}, {gbps(big, hashed['blake3_1']['median_s'])}",
        ],
        [
            f"loopml `digest_file`, {size_label(big)} file",
            f"{spread(hashed['loopml'])}, {gbps(big, hashed['loopml']['median_s'])}",
        ],
        [
            f"MD5 (DVC's hash), {size_label(big)} file, 16 MiB reads",
            f"{spread(hashed['md5'])}, {gbps(big, hashed['md5']['median_s'])}",
        ],
        [
            f"loopml `manifest.hash_files`, {sizes.files:,} files, empty stat cache",
            f"{spread(hashed['folder'])}, "
            f"{gbps(hashed['folder_bytes'], hashed['folder']['median_s'])}",
        ],
        [
            f"whole `loopml data add` of the {sizes.rows:,} x {sizes.cols} table "
            f"({prof['parquet_bytes'] / MiB:.0f} MiB Parquet), once",
            spread(prof["add"]),
        ],
    ]


def notes(r: dict[str, Any], sizes: Sizes) -> list[str]:
    cp = r["copy"]
    return [
        f"- Writing the {sizes.files:,} source files ran at {r['create_rate']:,.0f} files/s. On "
        "this VM's ext4 (no journal) creating files is up to 20x slower for a few minutes "
        "after many files were deleted (the kernel's inode allocator skips recently freed "
        "inodes one by one): a low figure here means every tool that creates a file per "
        "input file (DVC, `cp -r`) ran slow too.",
        "- loopml stores small files in packs (a few blobs per 1,000 files) and makes what it "
        "wrote durable (a sync) before recording a version; DVC (cache type reflink,copy: a "
        "copy here) writes one cache file per input file and does not sync. The sync of the "
        f"`cp -r` copy took {secs(cp['cp_r_sync']['median_s'])}, of the large file's copy "
        f"{secs(cp['cp_big_sync']['median_s'])}: loopml pays those, DVC leaves the writes to "
        "the kernel.",
        "- Re-add: loopml scans the folder (one lstat per file), finds the whole stat listing "
        "in its stat cache and reads the latest version's digest: no hashing, no copies, no "
        "writes. Compare it with `loopml data ls` above: the command's start-up and opening "
        "the store.",
        "- Before each timed command the bench runs `sync` (not timed), so no command pays for "
        "an earlier one's writes.",
    ]


def markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------
def parse_sizes() -> tuple[Sizes, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000, help="files in the folder case")
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the one large file")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to profile")
    parser.add_argument("--cols", type=int, default=50, help="columns to profile")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of each command")
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the temp folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw numbers")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    args = parser.parse_args()
    if args.quick:
        return Sizes(2_000, 4 * KiB, 64 * MiB, 100_000, 50, 2, 3, 2), args
    sizes = Sizes(args.files, 4 * KiB, args.big_mib * MiB, args.rows, args.cols, args.repeats, 7, 3)
    return sizes, args


def main() -> None:
    sizes, args = parse_sizes()
    if not LOOPML.exists():
        raise SystemExit(f"{LOOPML} is missing: pip install -e . in the project venv first")
    ensure_peers_venv()
    load_before, probe_before = load_average(), cpu_probe()
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="loopml-bench-data-", dir=args.workdir) as tmp:
        work = Path(tmp)
        step(f"writing {sizes.files:,} files of {size_label(sizes.file_size)} and one "
             f"{size_label(sizes.big)} file of random bytes in {work}")  # fmt: skip
        folder, big = work / "source-folder", work / "source-big.bin"
        results["create_rate"] = make_folder(folder, sizes.files, sizes.file_size)
        make_big(big, sizes.big)
        step("baselines: cp -r, cp, sync")
        results["copy"] = copy_baselines(work, folder, big, sizes.repeats)
        step("hashing: raw BLAKE3, loopml, MD5 (in process)")
        results["hashing"] = hashing(work, big, folder, sizes.hash_repeats)
        step(f"adding the folder, {sizes.repeats} times per tool")
        results["folder"] = folder_adds(work, folder, sizes.repeats)
        step(f"re-adding the unchanged folder, {sizes.repeats} times per tool")
        results["readd"] = readds(work, sizes.repeats)
        step(f"adding the {size_label(sizes.big)} file, {sizes.repeats} times per tool")
        results["big"] = big_adds(work, big, sizes.repeats)
        step(f"profiling {sizes.rows:,} rows x {sizes.cols} columns")
        results["profiling"] = profiling(work, sizes)
        step("cleaning up")
    elapsed = time.perf_counter() - started
    v = versions()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"date: {now}")
    print(
        f"machine: {os.cpu_count()} CPUs (nproc), {memory_gib()}, {cpu_model()}, "
        f"{platform.system()} {platform.release()}; load average before {load_before}, "
        f"after {load_average()}; CPU probe {probe_before:.0f} ms before, {cpu_probe():.0f} ms "
        "after"
    )
    print(f"source: {loopml_source()}")
    print(
        f"versions: loopml {v['loopml']} (Python {platform.python_version()}, blake3 "
        f"{v['blake3']}); DVC {v['dvc']} ({v['git']})"
    )
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])} ({elapsed:.0f} s)")
    print(f"each add: a fresh process, median (min-max) of {sizes.repeats}\n")
    head = ["case", "loopml", "DVC", "speed-up", "target", "result"]
    print(markdown(head, table_rows(results, sizes)))
    print("\nBaselines (bounds):\n")
    print(markdown(["baseline", "time"], baseline_rows(results, sizes)))
    print("\nNotes:\n" + "\n".join(notes(results, sizes)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
