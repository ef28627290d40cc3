"""Data versioning under process faults: a kill mid-add, and racing writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopml.artifacts.hashing import digest_file
from loopml.workspace import Workspace

pytestmark = pytest.mark.slow
DEADLINE_S = 60


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}


def add_script(name: str, path: Path, start_file: Path | None = None) -> str:
    wait = ""
    if start_file is not None:
        wait = (
            f"import time, os\nend = time.monotonic() + {DEADLINE_S}\n"
            f"while not os.path.exists({str(start_file)!r}) and time.monotonic() < end:\n"
            "    time.sleep(0.005)\n"
        )
    return wait + (
        "import loopml\n"
        f"v = loopml.datasets.add({name!r}, {str(path)!r})\n"
        "print(v.version, v.digest)\n"
    )


def make_files(folder: Path, count: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"f{i:05d}.bin").write_bytes(os.urandom(2048) + seed.to_bytes(4, "big"))
    return folder


def assert_blobs_intact(workspace: Workspace) -> None:
    blobs = workspace.root / ".loopml" / "artifacts" / "blobs"
    for path in blobs.rglob("*"):
        if path.is_file():
            assert digest_file(path) == path.parent.name + path.name, f"partial blob {path}"


def test_kill_during_add_leaves_no_version(workspace: Workspace, tmp_path: Path) -> None:
    data = make_files(tmp_path / "big", 6000, seed=1)
    child = subprocess.Popen(
        [sys.executable, "-c", add_script("big", data)], cwd=tmp_path, env=child_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    blobs = workspace.root / ".loopml" / "artifacts" / "blobs"
    deadline = time.monotonic() + DEADLINE_S
    while not (blobs.exists() and any(p.is_file() for p in blobs.rglob("*"))):
        assert child.poll() is None, "the add finished before it could be interrupted"
        assert time.monotonic() < deadline, "the add never started copying blobs"
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=DEADLINE_S)

    assert workspace.store.datasets.list_latest() == []
    assert_blobs_intact(workspace)
    again = subprocess.run(
        [sys.executable, "-c", add_script("big", data)], cwd=tmp_path, env=child_env(),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    import loopml

    out = loopml.datasets.download("big", tmp_path / "restored")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in data.iterdir())
    assert (out / "f00042.bin").read_bytes() == (data / "f00042.bin").read_bytes()
    assert_blobs_intact(workspace)


def test_two_processes_adding_one_name_get_n_and_n_plus_1(
    workspace: Workspace, tmp_path: Path
) -> None:
    start = tmp_path / "go"
    sources = [make_files(tmp_path / f"src{i}", 50, seed=i) for i in range(2)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", add_script("shared", src, start)],
            cwd=tmp_path,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for src in sources
    ]
    time.sleep(1.0)  # let both import loopml and wait at the start line
    start.touch()
    outputs = [child.communicate(timeout=DEADLINE_S) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    numbers = sorted(int(out.split()[0]) for out, _ in outputs)
    assert numbers == [1, 2]
    digests = {v.digest for v in workspace.store.datasets.list_versions("shared")}
    assert len(digests) == 2
