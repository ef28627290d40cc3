"""Type checkers see loopml's API: the package ships py.typed (PEP 561) in its wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_the_wheel_carries_py_typed(tmp_path: Path) -> None:
    assert (ROOT / "src" / "loopml" / "py.typed").is_file()
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
         str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("loopml-*.whl")
    assert "loopml/py.typed" in zipfile.ZipFile(wheel).namelist()
