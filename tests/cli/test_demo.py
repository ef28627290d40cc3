"""`loopml demo` end to end, as the README's first command runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loopml.workspace import Workspace


def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    done = subprocess.run(
        [sys.executable, "-m", "loopml", "demo", "--workspace", str(folder)],
        capture_output=True, text=True, env={**env, "COLUMNS": "200"}, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    assert "done in" in done.stdout and (folder / "demo-report.html").stat().st_size > 10_000
    # The printed hint works as pasted into a shell, whether or not loopml is on PATH.
    hint = done.stdout.split("explore it with:\n", 1)[1].splitlines()
    assert hint[0].strip().startswith("cd ") and hint[1].strip().endswith(" loop status")
    status = subprocess.run(["bash", "-c", f"{hint[0]} && {hint[1]}"], capture_output=True,
                            text=True, env=env, timeout=120)  # fmt: skip
    assert status.returncode == 0 and "fraud-api" in status.stdout, status.stderr
    ws = Workspace.open(folder)
    events = ws.store.loops.events("fraud-api")
    assert [(e.cycle, e.phase.value) for e in events] == [
        (1, "training"), (1, "gating"), (1, "canary"), (1, "promoted"),
        (2, "training"), (2, "gating"), (2, "rejected"),
        (3, "training"), (3, "gating"), (3, "canary"), (3, "rolled_back"),
    ]  # fmt: skip
    assert events[0].message.startswith("triggered by dataset drift")
    assert ws.store.models.get_alias("fraud-clf", "champion").version == 2
    gate = {
        v.version: v.tags.get("loopml.gate") for v in ws.store.models.list_versions("fraud-clf")
    }
    assert gate == {1: None, 2: "promoted", 3: "rejected", 4: "rolled_back"}
    deployment = ws.store.deployments.get("fraud-api")
    assert deployment.primary.uri == "fraud-clf/2" and deployment.canary is None
    labelled = ws.store.predictions.query(deployment="fraud-api", labeled=True)
    assert len(labelled) > 1_000 and {p.version for p in labelled} == {1, 2, 4}
    assert [e.action for e in ws.store.audit.events(action="loop.promote")] == ["loop.promote"]
    ws.close()
