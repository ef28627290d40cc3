"""The README's loopml.yaml policy is valid as written."""

from __future__ import annotations

import re
from pathlib import Path

from loopml.core.project_config import load_project_config

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_policy_parses(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (policy,) = [b for b in blocks if b.startswith("policies:")]
    (hooks,) = [b.split("alerts:")[0] for b in blocks if b.startswith("webhooks:")]
    (tmp_path / "loopml.yaml").write_text(hooks + policy)  # its notify names the Alerts' hooks
    (tmp_path / "pipeline.py").write_text("training = None\n")
    config = load_project_config(tmp_path)
    parsed = config.policies["fraud-api"]
    kinds = [t.kind for t in parsed.triggers]
    assert kinds == ["drift", "new_data", "schedule", "performance", "estimated_performance"]
    assert parsed.gate.confidence == 0.95 and parsed.canary.confidence == 0.95
