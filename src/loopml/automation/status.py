"""What `loopml loop status` shows per deployment: phase, last trigger, last decision with its
numbers, the next scheduled run, and who holds the lease."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from loopml.automation.triggers import next_run
from loopml.core.policies import SCHEDULE, Policy
from loopml.core.project_config import ProjectConfig, load_project_config
from loopml.workspace import Workspace


def loop_status(
    ws: Workspace, config: ProjectConfig | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    config = config or load_project_config(ws.config.project_root)
    now = now or datetime.now(UTC)
    return [_one(ws, policy, now) for _, policy in sorted(config.policies.items())]


def _one(ws: Workspace, policy: Policy, now: datetime) -> dict[str, Any]:
    state = ws.store.loops.get(policy.deployment)
    events = ws.store.loops.events(policy.deployment, limit=1)
    schedules = [next_run(t, state.cursors, now) for t in policy.triggers if t.kind == SCHEDULE]
    cooldown_ends = None
    if state.cycle_time is not None:
        ends = state.cycle_time.timestamp() + policy.cooldown
        if ends > now.timestamp():
            cooldown_ends = datetime.fromtimestamp(ends, UTC).isoformat()
    return {
        "deployment": policy.deployment,
        "model": policy.model,
        "phase": state.phase.value,
        "cycle": state.cycle,
        "trigger": state.trigger,
        "candidate": state.candidate,
        "baseline": state.baseline,
        "last_event": events[-1].to_json() if events else None,
        "decision": dict(state.decision),
        "error": state.error,
        "next_scheduled_run": min(schedules).isoformat() if schedules else None,
        "cooldown_ends": cooldown_ends,
        "triggers": [t.describe() for t in policy.triggers],
    }
