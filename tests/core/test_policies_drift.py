"""The drift trigger's threshold in loopml.yaml: calibrated by default, `default` or a number,
with alpha; mistakes name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.policies import Trigger
from loopml.core.project_config import ProjectConfigError, load_project_config

POLICY = """\
policies:
  api:
    model: clf
    pipeline: pipelines.py:training
    triggers:
      - %s
"""


def triggers(tmp_path: Path, trigger: str) -> tuple[Trigger, ...]:
    (tmp_path / "pipelines.py").write_text("def training():\n    pass\n")
    (tmp_path / "loopml.yaml").write_text(POLICY % trigger)
    return load_project_config(tmp_path).policies["api"].triggers


def test_calibrated_is_the_default(tmp_path: Path) -> None:
    [dataset] = triggers(tmp_path, "drift: dataset")
    assert (dataset.threshold, dataset.alpha) == ("calibrated", 0.01)
    [window] = triggers(tmp_path, "drift: {window: 300}")
    assert (window.threshold, window.alpha) == ("calibrated", 0.01)


@pytest.mark.parametrize(
    ("text", "threshold", "alpha"),
    [
        ("{threshold: calibrated, alpha: 0.001}", "calibrated", 0.001),
        ("{threshold: default}", "default", 0.01),
        ("{threshold: 0.2, columns: [a]}", 0.2, 0.01),
    ],
)
def test_threshold_and_alpha(tmp_path: Path, text: str, threshold: object, alpha: float) -> None:
    [trigger] = triggers(tmp_path, f"drift: {text}")
    assert (trigger.threshold, trigger.alpha) == (threshold, alpha)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("{threshold: auto}", "drift.threshold", "must be calibrated, default or a number"),
        ("{threshold: -1}", "drift.threshold", "must be at least 0"),
        ("{alpha: 0.6}", "drift.alpha", "must be at most 0.49"),
        ("{alpha: 0}", "drift.alpha", "must be at least 1e-06"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    with pytest.raises(ProjectConfigError) as caught:
        triggers(tmp_path, f"drift: {text}")
    assert f"policies.api.triggers[0].{key}" in str(caught.value)
    assert problem in str(caught.value)
