"""How a check judges drift: which threshold each column gets, and when the dataset drifts.

    threshold="default"      each test's own default (KS and chi-square p < 0.05, distances
                             >= 0.1); the dataset drifts when drift_share (0.5) of columns do
    threshold="calibrated"   per column, the (1 - alpha) quantile of the statistic between
                             reference samples of the window's size and the reference
                             (`loopml.monitoring.calibration`); the dataset drifts when more
                             columns drift than chance explains (in at most 5% of healthy
                             windows; 2 of 10 columns at alpha 0.01)
    threshold=0.2            that threshold for every column, in its test's unit (a p-value
                             for KS and chi-square); the dataset rule as for "default"

A column rule with its own threshold keeps it; `drift_share`, when given, sets the dataset
rule whatever the threshold.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

from loopml.core.datasets import Profile
from loopml.core.errors import InvalidArgumentError
from loopml.core.monitoring import ColumnDrift
from loopml.monitoring.calibration import DEFAULT_ALPHA, Calibrator, check_alpha, min_drifted
from loopml.monitoring.compare import ColumnRule
from loopml.monitoring.drift import is_drift

CALIBRATED = "calibrated"
DEFAULT = "default"
DEFAULT_DRIFT_SHARE = 0.5


@dataclasses.dataclass(frozen=True)
class Thresholds:
    mode: float | str = DEFAULT  # "default", "calibrated" or a number
    alpha: float = DEFAULT_ALPHA  # calibrated: each column's false-alarm rate
    drift_share: float | None = None  # None: 0.5, or the chance rule when calibrated

    @classmethod
    def parse(
        cls, threshold: object = None, alpha: object = DEFAULT_ALPHA, drift_share: object = None
    ) -> Thresholds:
        """Checked settings; errors name the argument and the value."""
        if drift_share is not None and (
            isinstance(drift_share, bool)
            or not isinstance(drift_share, int | float)
            or not 0 < drift_share <= 1
        ):
            raise InvalidArgumentError(f"drift_share must be in (0, 1], got {drift_share!r}")
        share = None if drift_share is None else float(drift_share)
        return cls(parse_threshold(threshold), check_alpha(alpha), share)

    @property
    def calibrated(self) -> bool:
        return self.mode == CALIBRATED

    def judge(
        self,
        drifts: Mapping[str, ColumnDrift],
        reference: Profile,
        rules: Mapping[str, ColumnRule],
        calibrator: Callable[[], Calibrator],
    ) -> dict[str, ColumnDrift]:
        """`drifts` (judged with the tests' defaults) judged again under these settings;
        `calibrator` makes the calibrator when one is needed."""
        if self.mode == DEFAULT:
            return dict(drifts)
        fixed = {name for name, rule in rules.items() if rule.threshold is not None}
        judged = dict(drifts)
        if not self.calibrated:
            for name, drift in drifts.items():
                if name not in fixed:
                    judged[name] = rejudge(drift, float(self.mode))
            return judged
        made = calibrator()
        for name, drift in drifts.items():
            profile = reference.column(name)
            if name not in fixed and profile is not None:
                limit = made.threshold(profile, drift.test, drift.kind, drift.current_rows)
                judged[name] = rejudge(drift, limit)
        made.flush()
        return judged

    def needed(self, columns: int) -> int:
        """How many drifted columns make the dataset drift (at least one)."""
        if self.drift_share is None and self.calibrated:
            return min_drifted(columns, self.alpha)
        share = DEFAULT_DRIFT_SHARE if self.drift_share is None else self.drift_share
        return max(1, math.ceil(share * columns - 1e-9))

    def share_needed(self, columns: int) -> float:
        """The drift share that makes the dataset drift: the report's drift_threshold."""
        if self.drift_share is not None or not self.calibrated or not columns:
            return DEFAULT_DRIFT_SHARE if self.drift_share is None else self.drift_share
        return self.needed(columns) / columns


def parse_threshold(value: object) -> float | str:
    """The threshold setting: calibrated, default (also for None) or a non-negative number."""
    if value is None or value == DEFAULT:
        return DEFAULT
    if value == CALIBRATED:
        return CALIBRATED
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    ):
        return float(value)
    raise InvalidArgumentError(
        f"threshold must be 'calibrated', 'default' or a non-negative number, got {value!r}"
    )


def rejudge(drift: ColumnDrift, threshold: float) -> ColumnDrift:
    """`drift` held against `threshold` instead."""
    drifted = is_drift(drift.test, drift.statistic, threshold)
    return dataclasses.replace(drift, threshold=threshold, drifted=drifted)
