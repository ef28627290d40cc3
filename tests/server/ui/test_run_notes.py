"""The run page shows a run's description (escaped) and whether it is deleted; the run list
hides deleted runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from loopml.workspace import Workspace


def test_description_and_deletion_on_the_run_page(workspace: Workspace, tmp_path: Path) -> None:
    runs = workspace.store.runs
    noted = runs.create("local", name="noted", description="lr too high <b>bold</b>")
    gone = runs.create("local", name="gone-run")
    runs.delete(gone.id)
    process = subprocess.Popen([sys.executable, "-m", "loopml", "ui", "--port", "0"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        base = found.group(0).rstrip("/")
        page = httpx.get(f"{base}/runs/{noted.id}", timeout=30).text
        assert "lr too high &lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page
        assert 'data-testid="deleted"' not in page
        listing = httpx.get(f"{base}/runs", timeout=30).text
        assert "noted" in listing and "gone-run" not in listing
        deleted = httpx.get(f"{base}/runs/{gone.id}", timeout=30).text
        assert 'data-testid="deleted"' in deleted and f"loopml runs restore {gone.id}" in deleted
    finally:
        process.terminate()
        process.wait(timeout=30)
