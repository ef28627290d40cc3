"""Records of the continuous-training loop: where each deployment's loop stands, its timeline,
and the lease that lets one controller act on a deployment at a time.

    idle -> training -> gating -> canary -> promoted | rolled_back
                           \\-> rejected | unchanged   (and any step -> failed)

The terminal phases behave like idle: the next pass evaluates the triggers again.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

from loopml.core.entities import FrozenDict


class Phase(enum.StrEnum):
    IDLE = "idle"
    TRAINING = "training"
    GATING = "gating"
    CANARY = "canary"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    UNCHANGED = "unchanged"  # training reproduced the champion (same version or same files)
    FAILED = "failed"

    @property
    def settled(self) -> bool:
        """Nothing is in flight: triggers are evaluated again."""
        return self in _SETTLED


_SETTLED = frozenset({Phase.IDLE, Phase.PROMOTED, Phase.ROLLED_BACK, Phase.REJECTED,
                      Phase.UNCHANGED, Phase.FAILED})  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class LoopState:
    """One deployment's loop. `revision` is bumped by every save (compare-and-set)."""

    deployment: str
    phase: Phase = Phase.IDLE
    revision: int = 0
    cycle: int = 0  # how many retrains were started
    trigger: str | None = None  # why the current cycle started, in words
    pipeline_run_id: str | None = None
    candidate: str | None = None  # "model/version"
    baseline: str | None = None  # the champion the candidate is judged against
    decision: FrozenDict = dataclasses.field(default_factory=FrozenDict)  # numbers that decided
    error: str | None = None
    cycle_time: datetime | None = None  # when the current (or last) cycle started
    phase_time: datetime | None = None  # when the current phase was entered
    cursors: FrozenDict = dataclasses.field(default_factory=FrozenDict)  # trigger bookkeeping

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "phase": self.phase.value,
            "revision": self.revision,
            "cycle": self.cycle,
            "trigger": self.trigger,
            "pipeline_run_id": self.pipeline_run_id,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "decision": dict(self.decision),
            "error": self.error,
            "cycle_time": _iso(self.cycle_time),
            "phase_time": _iso(self.phase_time),
            "cursors": dict(self.cursors),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class LoopEvent:
    """One entry of a deployment's timeline: a phase entered, with the numbers behind it."""

    deployment: str
    cycle: int
    phase: Phase
    time: datetime
    message: str
    details: FrozenDict = dataclasses.field(default_factory=FrozenDict)

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "cycle": self.cycle,
            "phase": self.phase.value,
            "time": self.time.isoformat(),
            "message": self.message,
            "details": dict(self.details),
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Lease:
    """Who may act on a deployment until when."""

    deployment: str
    holder: str
    expires: datetime


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
