"""`loopml demo` end to end, as the README's first command runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loopml.core.entities import RunStatus
from loopml.workspace import Workspace


def test_demo_trains_tracks_and_compares(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    done = subprocess.run(
        [sys.executable, "-m", "loopml", "demo", "--workspace", str(folder)],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "best:" in done.stdout
    ws = Workspace.open(folder)
    runs = ws.store.runs.search(["wine-demo"], order_by=["metrics.accuracy DESC"])
    assert len(runs) == 4
    assert all(r.status is RunStatus.FINISHED and 0.5 < r.metrics["accuracy"] <= 1 for r in runs)
    assert runs[0].name in done.stdout.split("best:")[1]
    boosted = next(r for r in runs if r.name.startswith("boosting"))
    assert len(ws.store.runs.metric_history(boosted.id, "test_log_loss")) == 60
    names = {a.name for a in ws.store.runs.artifacts(runs[0].id)}
    assert names == {"confusion_matrix", "test_predictions"}
    ws.close()
