"""Model-store and audit-store conformance: every backend's test class mixes this in."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from loopml.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.core.models import ColumnSpec, Signature, VersionStatus
from loopml.store.base import MetadataStore

SIGNATURE = Signature((ColumnSpec("x", "float"), ColumnSpec("city", "string")), "integer")


def register(store: MetadataStore, name: str = "clf", **extra: object):  # type: ignore[no-untyped-def]
    fields = {"flavor": "sklearn", "digest": "a" * 64, "size": 10, **extra}
    return store.models.create_version(name, **fields)  # type: ignore[arg-type]


class ModelStoreContract:
    def test_versions_numbered_per_model_with_their_fields(self, store: MetadataStore) -> None:
        run = store.runs.create("p", "train")
        first = register(
            store,
            signature=SIGNATURE,
            run_id=run.id,
            metrics={"acc": 0.9},
            tags={"team": "a"},
            description="first",
            trusted_types=["x.Y"],
        )
        second = register(store)
        other = register(store, "other")
        assert (first.version, second.version, other.version) == (1, 2, 1)
        assert first.signature == SIGNATURE and first.run_id == run.id
        assert first.metrics == {"acc": 0.9} and first.tags == {"team": "a"}
        assert first.trusted_types == ("x.Y",) and first.status is VersionStatus.READY
        assert store.models.get_version("clf", 1) == first
        assert store.models.latest_version("clf") == second
        assert [v.version for v in store.models.list_versions("clf")] == [1, 2]
        assert store.models.versions_from_run(run.id) == [first]
        assert [m.name for m in store.models.list_models()] == ["clf", "other"]
        assert store.models.get_model("clf").latest_version == 2

    def test_unknown_model_and_version(self, store: MetadataStore) -> None:
        with pytest.raises(NotFoundError, match="model 'nope' not found"):
            store.models.get_version("nope", 1)
        register(store)
        with pytest.raises(NotFoundError, match="has no version 7"):
            store.models.get_version("clf", 7)
        with pytest.raises(InvalidArgumentError, match="version must be a number"):
            store.models.get_version("clf", "x")
        with pytest.raises(NotFoundError, match="run 'r' not found"):
            register(store, run_id="r")

    def test_aliases_move_and_write_audit_events(self, store: MetadataStore) -> None:
        register(store)
        register(store)
        assert store.models.set_alias("clf", "champion", 1, actor="ann") is None
        assert store.models.set_alias("clf", "champion", 2, actor="bob", reason="better") == 1
        assert store.models.get_alias("clf", "champion").version == 2
        assert store.models.get_version("clf", 2).aliases == ("champion",)
        assert store.models.get_model("clf").aliases == {"champion": 2}
        assert store.models.delete_alias("clf", "champion", actor="ann") == 2
        with pytest.raises(NotFoundError, match="no alias 'champion'"):
            store.models.get_alias("clf", "champion")
        events = store.audit.events(target="model:clf")
        assert [(e.actor, e.action) for e in events] == [
            ("ann", "alias.delete"), ("bob", "alias.set"), ("ann", "alias.set"),
        ]  # fmt: skip
        assert events[1].details == {"alias": "champion", "from": 1, "to": 2, "reason": "better"}

    def test_audit_events_filter_by_action_prefix_actor_and_time(
        self, store: MetadataStore
    ) -> None:
        for n, (actor, action, target) in enumerate([
            ("ann", "deployment.create", "deployment:api"),
            ("bob", "deployment.promote", "deployment:api"),
            ("ann", "alias.set", "model:clf"),
            ("bob", "deployment_x", "deployment:x"),  # not a `deployment.` action
            ("bob", "a%b", "t"),
        ], start=1):  # fmt: skip
            store.audit.record(actor, action, target, {"n": n})
            time.sleep(0.003)  # a millisecond clock: each event its own time

        def numbers(**filters: object) -> list[int]:
            return [e.details["n"] for e in store.audit.events(**filters)]  # type: ignore[arg-type]

        assert numbers() == [5, 4, 3, 2, 1]
        assert numbers(action_prefix="deployment.") == [2, 1]
        assert numbers(action_prefix="deployment") == [4, 2, 1]
        assert numbers(action_prefix="a%") == [5]  # wildcards are text
        assert numbers(action_prefix="a_") == []
        assert numbers(actor="ann") == [3, 1]
        assert numbers(actor="bob", action_prefix="deployment.", target="deployment:api") == [2]
        assert numbers(actor="nobody") == []
        events = store.audit.events()
        assert numbers(since=events[2].time) == [5, 4, 3]  # at or after
        later = events[0].time + timedelta(seconds=1)
        assert numbers(since=later) == []
        assert numbers(since=events[-1].time - timedelta(days=1), limit=2) == [5, 4]

    def test_an_alias_resolves_to_the_whole_version_record(self, store: MetadataStore) -> None:
        run = store.runs.create("p", "train")
        register(store, signature=SIGNATURE, run_id=run.id, metrics={"acc": 0.9})
        register(store, run_id=run.id, tags={"team": "a"}, trusted_types=["x.Y"])
        register(store, "other")
        for name, alias, version in [("clf", "champion", 2), ("clf", "challenger", 2),
                                     ("clf", "old", 1), ("other", "champion", 1)]:  # fmt: skip
            store.models.set_alias(name, alias, version, actor="ann")
        champion = store.models.get_alias("clf", "champion")
        assert champion == store.models.get_version("clf", 2)
        assert champion.aliases == ("challenger", "champion") and champion.run_id == run.id
        assert store.models.get_alias("clf", "old") == store.models.get_version("clf", 1)
        assert store.models.get_alias("other", "champion").aliases == ("champion",)
        with pytest.raises(NotFoundError, match="model 'nope' not found"):
            store.models.get_alias("nope", "champion")
        with pytest.raises(NotFoundError, match="model 'other' has no alias 'old'"):
            store.models.get_alias("other", "old")

    @pytest.mark.parametrize("alias", ["", "a b", "x/y", "123", "latest", "é", "a" * 65])
    def test_bad_alias_names(self, store: MetadataStore, alias: str) -> None:
        register(store)
        with pytest.raises(InvalidArgumentError, match="alias"):
            store.models.set_alias("clf", alias, 1, actor="ann")

    def test_archive_and_delete_are_refused_while_aliased(self, store: MetadataStore) -> None:
        register(store)
        register(store)
        store.models.set_alias("clf", "champion", 1, actor="ann")
        with pytest.raises(ConflictError, match="champion"):
            store.models.update_version("clf", 1, status=VersionStatus.ARCHIVED)
        with pytest.raises(ConflictError, match="champion"):
            store.models.delete_version("clf", 1)
        archived = store.models.update_version("clf", 2, status=VersionStatus.ARCHIVED)
        assert archived.status is VersionStatus.ARCHIVED
        with pytest.raises(ConflictError, match="archived"):
            store.models.set_alias("clf", "challenger", 2, actor="ann")
        assert store.models.latest_version("clf").version == 1
        store.models.delete_version("clf", 2, actor="ann")
        assert [v.version for v in store.models.list_versions("clf")] == [1]
        assert register(store).version == 3  # numbers are never reused

    def test_edit_descriptions_and_tags(self, store: MetadataStore) -> None:
        register(store, tags={"a": "1"})
        edited = store.models.update_version("clf", 1, description="d", tags={"b": "2"})
        assert edited.description == "d" and edited.tags == {"a": "1", "b": "2"}
        model = store.models.update_model("clf", description="the classifier", tags={"t": "x"})
        assert model.description == "the classifier" and model.tags == {"t": "x"}

    def test_concurrent_registrations_get_distinct_versions(self, store: MetadataStore) -> None:
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                barrier.wait(timeout=30)
                register(store, "raced")
            except BaseException as exc:  # collected: a thread's failure must fail the test
                errors.append(exc)

        threads = [threading.Thread(target=writer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors
        assert [v.version for v in store.models.list_versions("raced")] == list(range(1, 9))
