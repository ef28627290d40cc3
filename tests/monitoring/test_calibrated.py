"""Drift thresholds calibrated on the reference: on seasonal data and small windows a fixed 0.1
calls healthy windows drifted, the calibrated threshold does not, and a real shift is still
caught; calibrations are cached per reference and window step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.core.errors import InvalidArgumentError
from loopml.data.profile import profile_table
from loopml.data.readers import to_table
from loopml.monitoring import calibration
from loopml.monitoring.calibration import Calibrator, min_drifted, window_step
from loopml.monitoring.reference import Reference, from_frame
from loopml.workspace import Workspace
from tests.monitoring.seasonal import SHIFTED, reference, shift, window

HEALTHY_SIZES = (100, 100, 110, 120, 130, 140, 150, 170, 200, 250, 350, 500)
SHIFTED_SIZES = (100, 140, 180, 220, 260, 300, 350, 400, 450, 500)


def drifted(ws: Workspace, rows: pd.DataFrame, ref: Reference, threshold: str) -> bool:
    report = loopml.monitoring.check(rows, reference=ref, threshold=threshold, save=False,
                                     workspace=ws)  # fmt: skip
    return report.dataset_drift


def test_seasonal_small_windows(workspace: Workspace) -> None:
    rng = np.random.default_rng(3)
    season = reference(rng)
    ref = from_frame(season, "8 weeks")
    healthy = [window(n, 8 + i, rng) for i, n in enumerate(HEALTHY_SIZES)]
    fixed = sum(drifted(workspace, rows, ref, "default") for rows in healthy)
    calibrated = sum(drifted(workspace, rows, ref, "calibrated") for rows in healthy)
    assert fixed > 1, f"the fixed 0.1 threshold flagged only {fixed} of 12 healthy windows"
    assert calibrated <= 1, f"calibrated: {calibrated} of 12 healthy windows flagged"
    moved = [shift(window(n, 20 + i, rng), season) for i, n in enumerate(SHIFTED_SIZES)]
    caught = sum(drifted(workspace, rows, ref, "calibrated") for rows in moved)
    assert caught >= 9, f"calibrated: a 0.5 sd shift on 3 of 10 columns caught {caught}/10"


def test_the_report_carries_calibrated_thresholds(workspace: Workspace) -> None:
    rng = np.random.default_rng(4)
    season = reference(rng)
    ref = from_frame(season, "8 weeks")
    rows = shift(window(300, 8, rng), season)
    report = loopml.monitoring.check(rows, reference=ref, threshold="calibrated", save=False,
                                     workspace=workspace)  # fmt: skip
    assert report.dataset_drift and set(report.drifted_columns) >= set(SHIFTED)
    temperature = report.columns["temperature"]
    assert temperature.test == "wasserstein" and 0.05 < temperature.threshold < 0.2
    assert report.columns["hour"].test == "jensenshannon"
    assert report.drift_threshold == pytest.approx(min_drifted(10, 0.01) / 10)  # 2 of 10
    default = loopml.monitoring.check(rows, reference=ref, save=False, workspace=workspace)
    assert default.columns["temperature"].threshold == 0.1 and default.drift_threshold == 0.5
    numbered = loopml.monitoring.check(rows, reference=ref, threshold=0.3, save=False,
                                       rules={"hour": {"threshold": 0.5}},
                                       workspace=workspace)  # fmt: skip
    assert numbered.columns["load"].threshold == 0.3
    assert numbered.columns["hour"].threshold == 0.5  # a column rule keeps its own
    shared = loopml.monitoring.check(rows, reference=ref, threshold="calibrated",
                                     drift_share=0.9, save=False, workspace=workspace)  # fmt: skip
    assert not shared.dataset_drift and shared.drift_threshold == 0.9


def test_calibrations_are_cached_on_disk_per_reference_and_window_step(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(5)
    ref = from_frame(reference(rng), "8 weeks")
    rows = window(200, 8, rng)
    first = loopml.monitoring.check(rows, reference=ref, threshold="calibrated", save=False,
                                    workspace=workspace)  # fmt: skip
    folder = workspace.cache_dir / "monitoring" / "calibration"
    assert [p.name.split("-")[-2] for p in folder.iterdir()] == [f"n{window_step(200)}"]

    def refuse(*args: object) -> None:
        raise AssertionError("calibrated again")

    monkeypatch.setattr(calibration, "null_statistics", refuse)
    again = loopml.monitoring.check(
        window(210, 9, rng), reference=ref, threshold="calibrated", save=False, workspace=workspace
    )  # same step: read back
    assert again.columns.keys() == first.columns.keys()
    with pytest.raises(AssertionError, match="calibrated again"):  # another step: computed
        loopml.monitoring.check(window(400, 9, rng), reference=ref, threshold="calibrated",
                                save=False, workspace=workspace)  # fmt: skip


def test_p_value_tests_take_alpha_and_the_null_is_reproducible() -> None:
    rng = np.random.default_rng(6)
    small = profile_table(to_table(pd.DataFrame({"x": rng.normal(size=500)})))
    calibrator = Calibrator("ab12", alpha=0.02)
    assert calibrator.threshold(small.columns[0], "ks", "numeric", 100) == 0.02
    first = calibrator.threshold(small.columns[0], "wasserstein", "numeric", 100)
    again = Calibrator("ab12", alpha=0.02).threshold(small.columns[0], "wasserstein",
                                                    "numeric", 100)  # fmt: skip
    assert first == again and calibrator.computed == 1
    assert calibrator.threshold(small.columns[0], "wasserstein", "numeric", 101) == pytest.approx(
        first * np.sqrt((1 + 101 / 500) / (1 + 100 / 500))
    )  # the same step, widened for the reference's own noise
    assert calibrator.computed == 1


def test_window_steps_and_the_dataset_rule() -> None:
    assert [window_step(n) for n in (1, 31, 32, 100, 128, 200, 500, 10_000)] == [
        1, 31, 32, 90, 128, 181, 430, 9741,
    ]  # fmt: skip
    assert [min_drifted(m, 0.01) for m in (1, 2, 5, 6, 10, 50, 100)] == [1, 1, 1, 2, 2, 3, 4]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threshold": "auto"}, "threshold must be 'calibrated', 'default' or a non-negative"),
        ({"threshold": -0.1}, "got -0.1"),
        ({"threshold": True}, "got True"),
        ({"threshold": "calibrated", "alpha": 0.7}, "alpha must be a number between 0 and 0.5"),
        ({"drift_share": 0}, r"drift_share must be in \(0, 1\], got 0"),
    ],
)
def test_bad_settings_name_the_argument(workspace: Workspace, options: dict, message: str) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(InvalidArgumentError, match=message):
        loopml.monitoring.check(frame, reference=frame, save=False, workspace=workspace,
                                **options)  # fmt: skip
