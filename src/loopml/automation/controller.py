"""The continuous-training controller: a reconcile loop over the deployments that have a policy.

A pass takes each deployment's lease, reads its loop state, and takes the next step of

    settled --trigger--> training --model--> gating --pass--> canary --> promoted | rolled_back
                                                  \\--fail--> rejected      (errors -> failed)

Every step first acts (idempotently: it looks at the world before changing it), then saves the
new state by compare-and-set with an entry on the timeline. A controller killed anywhere resumes
from the last saved state and redoes at most the one step that was under way.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from loopml.automation import actions, judging, training, triggers
from loopml.automation.retention import expire_predictions
from loopml.core.entities import FrozenDict
from loopml.core.errors import ConflictError, LoopmlError
from loopml.core.loops import Lease, LoopEvent, LoopState, Phase
from loopml.core.policies import CanarySpec, Policy
from loopml.core.project_config import ProjectConfig, load_project_config
from loopml.registry.confidence import Interval
from loopml.workspace import Workspace

log = logging.getLogger("loopml.automation")

MAX_STEPS_PER_PASS = 10  # a pass ends sooner when a step has nothing to do (a canary waiting)
DEFAULT_LEASE_TTL = 120.0
RETENTION_EVERY = 3600.0  # seconds between two sweeps of expired predictions
Observer = Callable[[str, LoopState], None]  # ("acting" | "acted" | "saved", state)


@dataclasses.dataclass(frozen=True)
class PassResult:
    deployment: str
    state: LoopState
    steps: int  # transitions taken in this pass
    holder: str | None = None  # when another controller holds the lease
    lease_expires: datetime | None = None

    @property
    def blocked(self) -> bool:
        return self.holder is not None


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Controller:
    def __init__(
        self,
        workspace: Workspace,
        config: ProjectConfig | None = None,
        *,
        holder: str | None = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        observer: Observer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ws = workspace
        self.config = config or load_project_config(workspace.config.project_root)
        self.holder = holder or holder_id()
        self.lease_ttl = lease_ttl
        self.observer = observer or (lambda kind, state: None)
        self.clock = clock
        self.loops = workspace.store.loops
        self._expired_at: float | None = None  # monotonic time of the last retention sweep

    @property
    def policies(self) -> Mapping[str, Policy]:
        return self.config.policies  # type: ignore[no-any-return]

    # -- passes ----------------------------------------------------------------------------
    def run_once(
        self, deployments: Iterable[str] | None = None, *, manual: Iterable[str] = ()
    ) -> list[PassResult]:
        """One pass over the deployments (all with a policy by default). `manual` names the
        deployments whose loop starts a cycle now, whatever their triggers say."""
        names = list(deployments) if deployments is not None else sorted(self.policies)
        forced = set(manual)
        for name in [*names, *forced]:
            if name not in self.policies:
                raise LoopmlError(
                    f"no policy for deployment {name!r} under policies: in loopml.yaml"
                )
        known = {state.deployment: state for state in self.loops.list()}  # one read per pass
        results = [self.reconcile(name, manual=name in forced, seen=known.get(name) or
                                  LoopState(name)) for name in names]  # fmt: skip
        self._expire_predictions()
        return results

    def _expire_predictions(self) -> None:
        """Apply `deployments.NAME.retention` (as `loopml gc` does), at most once an hour."""
        if not self.config.retention:
            return
        now = time.monotonic()
        if self._expired_at is not None and now - self._expired_at < RETENTION_EVERY:
            return
        self._expired_at = now
        expire_predictions(self.ws, self.config, now=self.clock())

    def reconcile(
        self, deployment: str, *, manual: bool = False, seen: LoopState | None = None
    ) -> PassResult:
        """One pass for one deployment; `seen`: its state as just read, if the caller has it."""
        policy = self.policies[deployment]
        seen = seen or self.loops.get(deployment)
        early = None
        if seen.phase.settled and not manual:
            # Most passes find nothing to do: decide that without the lease (two writes and a
            # thread per deployment); bookkeeping saves are compare-and-set anyway.
            early = triggers.evaluate(self.ws, policy, seen, self.clock())
            if early.fired is None:
                return PassResult(deployment, self._keep_cursors(seen, early.cursors), 0)
        lease = self.loops.acquire(deployment, self.holder, self.lease_ttl)
        if lease.holder != self.holder:
            return PassResult(deployment, seen, 0, lease.holder, lease.expires)
        with _KeepLease(self.loops, lease, self.lease_ttl):  # released when the pass ends
            state, steps = self.loops.get(deployment), 0
            if early is not None and state.revision != seen.revision:
                early = None  # another controller moved it meanwhile: look again
            while steps < MAX_STEPS_PER_PASS:
                first = steps == 0
                new = self.step(policy, state, manual=manual and first,
                                evaluation=early if first else None)  # fmt: skip
                if new is state:
                    break
                state, steps = new, steps + 1
                if state.phase.settled and state.phase is not Phase.IDLE:
                    break  # a cycle ended: the next pass looks at the triggers again
        return PassResult(deployment, state, steps)

    def _keep_cursors(self, state: LoopState, cursors: Mapping[str, Any]) -> LoopState:
        if dict(cursors) == dict(state.cursors):
            return state
        try:
            return self._store(dataclasses.replace(state, cursors=FrozenDict(cursors)))
        except ConflictError:  # another controller saved first; its view is as good
            return self.loops.get(state.deployment)

    def release(self) -> None:
        for name in self.policies:
            self.loops.release(name, self.holder)

    # -- one transition ----------------------------------------------------------------------
    def step(
        self,
        policy: Policy,
        state: LoopState,
        *,
        manual: bool = False,
        evaluation: triggers.Evaluation | None = None,
    ) -> LoopState:
        """Take the next step of the state machine; `state` itself when there is none.
        `evaluation`: the triggers, already evaluated against this very state."""
        self.observer("acting", state)
        try:
            if state.phase.settled:
                return self._settled(policy, state, manual, evaluation)
            if state.phase is Phase.TRAINING:
                return self._train(policy, state)
            if state.phase is Phase.GATING:
                return self._gate(policy, state)
            return self._canary(policy, state)
        except ConflictError:
            raise
        except Exception as exc:  # the cycle fails; the champion is untouched
            log.exception("loop %s: %s failed", policy.deployment, state.phase.value)
            error = f"{state.phase.value}: {type(exc).__name__}: {exc}"
            return self._save(state, Phase.FAILED, error[:2000], error=error[:5000])

    def _settled(
        self,
        policy: Policy,
        state: LoopState,
        manual: bool,
        evaluation: triggers.Evaluation | None,
    ) -> LoopState:
        now = self.clock()
        found = evaluation or triggers.evaluate(self.ws, policy, state, now, manual=manual)
        if found.fired is None:  # bookkeeping only, no timeline entry
            return self._keep_cursors(state, found.cursors)
        fired = found.fired
        actions.audit(self.ws, policy, "loop.trigger", {"trigger": fired.reason,
                                                        **fired.details})  # fmt: skip
        cursors = {**found.cursors, triggers.STREAK: triggers.streak_at_start(policy, state, now)}
        started = dataclasses.replace(
            state, cycle=state.cycle + 1, trigger=fired.reason, pipeline_run_id=None,
            candidate=None, baseline=None, decision=FrozenDict(), error=None, cycle_time=now,
            cursors=FrozenDict(cursors),
        )  # fmt: skip
        return self._save(started, Phase.TRAINING, f"triggered by {fired.reason}",
                          dict(fired.details))  # fmt: skip

    def _train(self, policy: Policy, state: LoopState) -> LoopState:
        result = training.run(self.ws, policy)
        if result.status != "FINISHED":
            error = result.error or f"the pipeline run ended {result.status}"
            return self._save(dataclasses.replace(state, pipeline_run_id=result.id), Phase.FAILED,
                              f"training failed: {error.splitlines()[-1][:300]}",
                              {"pipeline_run": result.id}, error=error[-5000:])  # fmt: skip
        version = training.candidate(self.ws, policy, result)
        trained = dataclasses.replace(state, pipeline_run_id=result.id, candidate=version.uri)
        details = {"pipeline_run": result.id, "metrics": dict(version.metrics)}
        return self._save(trained, Phase.GATING, f"trained {version.uri}", details)

    def _gate(self, policy: Policy, state: LoopState) -> LoopState:
        assert state.candidate is not None
        baseline = actions.champion(self.ws, policy)
        if baseline is not None and training.same_model(self.ws, state.candidate, baseline):
            # A fully cached pipeline returns the champion itself: nothing to judge or canary.
            details = {"candidate": state.candidate, "champion": baseline}
            return self._save(dataclasses.replace(state, baseline=baseline), Phase.UNCHANGED,
                              f"{state.candidate} is the champion {baseline} (same files): "
                              "nothing to gate or canary", details)  # fmt: skip
        run = training.pipeline_run(self.ws, state.pipeline_run_id)
        data = judging.gate_data(self.ws, policy.gate, run)
        decision = judging.gate(self.ws, policy, state.candidate, baseline, data)
        judged = dataclasses.replace(state, baseline=baseline, decision=FrozenDict(decision))
        summary = _gate_summary(decision, state.candidate, baseline)
        if not decision["passed"]:
            actions.reject(self.ws, policy, state.candidate, {**decision, "cycle": state.cycle})
            return self._save(judged, Phase.REJECTED, f"gate rejected {summary}", decision)
        if policy.canary is None:
            actions.promote(self.ws, policy, state.candidate,
                            {"gate": decision, "cycle": state.cycle})  # fmt: skip
            return self._save(judged, Phase.PROMOTED, f"gate passed {summary}; promoted", decision)
        actions.start_canary(self.ws, policy, state.candidate)
        share = f"{policy.canary.traffic:.0%}"
        return self._save(judged, Phase.CANARY, f"gate passed {summary}; canary at {share}",
                          decision)  # fmt: skip

    def _canary(self, policy: Policy, state: LoopState) -> LoopState:
        assert state.candidate is not None and state.phase_time is not None
        verdict = judging.judge_canary(self.ws, policy, state.candidate, state.phase_time,
                                       self.clock())  # fmt: skip
        if verdict.action is None:
            return state
        numbers = {"canary_judgement": verdict.to_json(), "gate": dict(state.decision),
                   "cycle": state.cycle}  # fmt: skip
        judged = dataclasses.replace(state, decision=FrozenDict(numbers))
        reasons = "; ".join(verdict.reasons)
        if not verdict.timed_out:
            reasons += f" ({verdict.summary((policy.canary or CanarySpec()).metric)})"
        if verdict.action == "promote":
            actions.promote(self.ws, policy, state.candidate, numbers)
            return self._save(judged, Phase.PROMOTED, f"promoted {state.candidate}: {reasons}",
                              verdict.to_json())  # fmt: skip
        actions.rollback(self.ws, policy, state.candidate, numbers)
        return self._save(judged, Phase.ROLLED_BACK, f"rolled back {state.candidate}: {reasons}",
                          verdict.to_json())  # fmt: skip

    # -- saving ------------------------------------------------------------------------------
    def _save(
        self,
        state: LoopState,
        phase: Phase,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        error: str | None = None,
    ) -> LoopState:
        now = self.clock()
        new = dataclasses.replace(state, phase=phase, phase_time=now, error=error)
        event = LoopEvent(state.deployment, new.cycle, phase, now, message,
                          FrozenDict(details or {}))  # fmt: skip
        self.observer("acted", new)  # the step acted; its state is not saved yet
        return self._store(new, event)

    def _store(self, state: LoopState, event: LoopEvent | None = None) -> LoopState:
        saved = self.loops.save(state, event)
        self.observer("saved", saved)
        return saved


def _gate_summary(decision: Mapping[str, Any], candidate: str, baseline: str | None) -> str:
    metric = decision["metric"]
    mine = decision["candidate"].get(metric)
    text = f"{candidate} ({metric} {mine:.4g}"
    if baseline is not None and decision.get("baseline"):
        text += f" vs {baseline} {decision['baseline'][metric]:.4g}"
    interval = decision.get("interval")
    if interval:
        text += f"; {Interval(**interval).describe()}"
    reasons = decision.get("reasons") or []
    return text + ")" + (f": {'; '.join(reasons)}" if reasons else "")


class _KeepLease:
    """Renews the lease from a thread while a long step (training) runs."""

    def __init__(self, loops: Any, lease: Lease, ttl: float) -> None:
        self.loops, self.lease, self.ttl = loops, lease, ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="loopml-lease", daemon=True)

    def __enter__(self) -> _KeepLease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        try:
            self.loops.release(self.lease.deployment, self.lease.holder)
        except Exception:  # it expires by itself
            log.warning("could not release the lease on %s", self.lease.deployment)

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.loops.acquire(self.lease.deployment, self.lease.holder, self.ttl)
            except Exception:  # the store hiccuped: try again next time
                log.warning("could not renew the lease on %s", self.lease.deployment)
