"""Loop-store conformance (state by compare-and-set, timeline, leases) and serving failures:
every backend mixes this in."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest

from loopml.core.entities import FrozenDict
from loopml.core.errors import ConflictError
from loopml.core.loops import LoopEvent, LoopState, Phase
from loopml.core.serving import Failure, RouteMode
from loopml.store.base import MetadataStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(phase: Phase, message: str, cycle: int = 1) -> LoopEvent:
    return LoopEvent("api", cycle, phase, T0, message, FrozenDict({"accuracy": 0.91}))


class LoopStoreContract:
    def test_a_deployment_without_a_loop_is_idle_at_revision_0(self, store: MetadataStore) -> None:
        assert store.loops.get("api") == LoopState("api")
        assert store.loops.list() == []

    def test_save_round_trips_and_bumps_the_revision(self, store: MetadataStore) -> None:
        state = LoopState(
            "api", Phase.CANARY, cycle=2, trigger="dataset drift", pipeline_run_id="r1",
            candidate="clf/4", baseline="clf/3", decision=FrozenDict({"delta": 0.02}),
            cycle_time=T0, phase_time=T0 + timedelta(seconds=5),
            cursors=FrozenDict({"new_data:tx": 3}),
        )  # fmt: skip
        saved = store.loops.save(state, event(Phase.CANARY, "canary at 20%"))
        assert saved.revision == 1
        assert store.loops.get("api") == saved
        assert store.loops.list() == [saved]
        again = store.loops.save(dataclasses.replace(saved, phase=Phase.PROMOTED))
        assert again.revision == 2 and store.loops.get("api").phase is Phase.PROMOTED

    def test_a_stale_revision_is_a_conflict_and_changes_nothing(self, store: MetadataStore) -> None:
        first = store.loops.save(LoopState("api", Phase.TRAINING), event(Phase.TRAINING, "go"))
        store.loops.save(dataclasses.replace(first, phase=Phase.GATING))
        with pytest.raises(ConflictError, match="changed since revision 1"):
            store.loops.save(
                dataclasses.replace(first, phase=Phase.FAILED), event(Phase.FAILED, "x")
            )
        with pytest.raises(ConflictError):  # a second "first" save
            store.loops.save(LoopState("api", Phase.TRAINING))
        assert store.loops.get("api").phase is Phase.GATING
        assert [e.message for e in store.loops.events("api")] == ["go"]  # the event rolled back

    def test_events_are_oldest_first_and_limited_to_the_newest(self, store: MetadataStore) -> None:
        state = LoopState("api")
        for i in range(5):
            state = store.loops.save(state, event(Phase.TRAINING, f"e{i}", cycle=i))
        store.loops.save(LoopState("other"), dataclasses.replace(event(Phase.IDLE, "o"),
                                                                 deployment="other"))  # fmt: skip
        events = store.loops.events("api", limit=3)
        assert [e.message for e in events] == ["e2", "e3", "e4"]
        assert events[0].details == {"accuracy": 0.91} and events[0].time == T0
        assert len(store.loops.events()) == 6

    def test_a_lease_excludes_others_until_it_expires(self, store: MetadataStore) -> None:
        mine = store.loops.acquire("api", "a", ttl=30)
        assert mine.holder == "a"
        theirs = store.loops.acquire("api", "b", ttl=30)
        assert theirs.holder == "a" and theirs.expires == mine.expires  # b did not get it
        renewed = store.loops.acquire("api", "a", ttl=60)
        assert renewed.holder == "a" and renewed.expires > mine.expires
        store.loops.release("api", "b")  # not b's to release
        assert store.loops.acquire("api", "b", ttl=30).holder == "a"
        store.loops.release("api", "a")
        assert store.loops.acquire("api", "b", ttl=0.2).holder == "b"
        time.sleep(0.3)
        assert store.loops.acquire("api", "a", ttl=30).holder == "a"  # b's lease expired

    def test_failures_are_counted_per_version_and_window(self, store: MetadataStore) -> None:
        def failure(version: int, seconds: int) -> Failure:
            return Failure("api", "clf", version, RouteMode.CANARY, T0 + timedelta(seconds=seconds),
                           "model")  # fmt: skip

        store.predictions.log_failures([failure(2, 0), failure(2, 10), failure(1, 10)])
        assert store.predictions.failure_count("api", model="clf", version=2) == 2
        since = T0 + timedelta(seconds=5)
        assert store.predictions.failure_count("api", model="clf", version=2, since=since) == 1
        assert store.predictions.failure_count("other", model="clf", version=2) == 0
