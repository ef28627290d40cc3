"""The run-store conformance suite. Every MetadataStore backend subclasses it and provides
a `store` fixture; the same assertions then hold for SQLite, PostgreSQL and the REST client."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from loopml.core.entities import ArtifactRef, CodeVersion, Metric, RunInput, RunStatus
from loopml.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.store.base import MetadataStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def point(key: str, value: float, step: int, seconds: int = 0) -> Metric:
    return Metric(key, value, step, T0 + timedelta(seconds=seconds))


class RunStoreContract:
    @pytest.fixture
    def store(self) -> MetadataStore:
        raise NotImplementedError("a backend's test class provides the store fixture")

    # -- projects and runs ------------------------------------------------------------------
    def test_create_and_get_run(self, store: MetadataStore) -> None:
        code = CodeVersion("a" * 40, "b" * 64, "/repo")
        run = store.runs.create(
            "iris", "baseline", tags={"team": "ml"}, user="ada", code=code,
            python_version="3.11.7", env_digest="c" * 64,
        )  # fmt: skip
        got = store.runs.get(run.id)
        assert got == run
        assert (got.project, got.name, got.status) == ("iris", "baseline", RunStatus.RUNNING)
        assert got.tags == {"team": "ml"} and got.user == "ada" and got.code == code
        assert got.end_time is None and got.start_time.tzinfo is not None
        assert store.projects.get("iris").name == "iris"

    def test_records_are_immutable(self, store: MetadataStore) -> None:
        run = store.runs.create("p", "r", tags={"a": "1"})
        with pytest.raises(TypeError):
            run.tags["b"] = "2"  # type: ignore[index]
        with pytest.raises(AttributeError):
            run.name = "other"  # type: ignore[misc]

    def test_unknown_run_and_project(self, store: MetadataStore) -> None:
        with pytest.raises(NotFoundError, match="nope"):
            store.runs.get("nope")
        with pytest.raises(NotFoundError, match="ghost"):
            store.projects.get("ghost")
        with pytest.raises(NotFoundError, match="ghost"):
            store.runs.search(projects=["ghost"])
        with pytest.raises(NotFoundError):
            store.runs.log_params("nope", {"a": "1"})
        with pytest.raises(NotFoundError):
            store.runs.log_metrics("nope", [point("m", 1.0, 0)])

    def test_invalid_project_name(self, store: MetadataStore) -> None:
        with pytest.raises(InvalidArgumentError, match="project name"):
            store.runs.create("../etc", "r")

    def test_project_created_once_when_raced(self, store: MetadataStore) -> None:
        errors: list[BaseException] = []

        def create() -> None:
            try:
                store.runs.create("raced", "r")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=create) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors
        assert [p.name for p in store.projects.list()].count("raced") == 1
        assert len(store.runs.search(projects=["raced"])) == 6

    def test_status_transitions(self, store: MetadataStore) -> None:
        run = store.runs.create("p", "r")
        failed = store.runs.set_status(run.id, RunStatus.FAILED, error="boom")
        assert failed.status is RunStatus.FAILED and failed.error == "boom"
        assert failed.end_time is not None and failed.end_time >= failed.start_time
        with pytest.raises(NotFoundError):
            store.runs.set_status("nope", RunStatus.FINISHED)

    def test_fail_stale_only_marks_old_heartbeats(self, store: MetadataStore) -> None:
        old = store.runs.create("p", "old")
        fresh = store.runs.create("p", "fresh")
        done = store.runs.create("p", "done")
        store.runs.set_status(done.id, RunStatus.FINISHED)
        assert store.runs.fail_stale(timeout_seconds=3600) == []
        time.sleep(0.5)
        store.runs.heartbeat([fresh.id])
        assert store.runs.fail_stale(timeout_seconds=0.3) == [old.id]
        reaped = store.runs.get(old.id)
        assert reaped.status is RunStatus.FAILED and "heartbeat" in (reaped.error or "")
        assert store.runs.get(fresh.id).status is RunStatus.RUNNING
        assert store.runs.get(done.id).status is RunStatus.FINISHED

    # -- params, metrics, tags --------------------------------------------------------------
    def test_params_are_write_once(self, store: MetadataStore) -> None:
        run = store.runs.create("p", "r")
        store.runs.log_params(run.id, {"C": "1.0", "kernel": "rbf"})
        store.runs.log_params(run.id, {"C": "1.0"})  # the same value again is fine
        with pytest.raises(ConflictError, match="C"):
            store.runs.log_params(run.id, {"C": "2.0"})
        assert store.runs.get(run.id).params == {"C": "1.0", "kernel": "rbf"}

    def test_metric_history_and_latest(self, store: MetadataStore) -> None:
        run = store.runs.create("p", "r")
        store.runs.log_metrics(run.id, [point("loss", 1.0, 0), point("loss", 0.5, 1, 1)])
        store.runs.log_metrics(run.id, [point("loss", 0.25, 2, 2), point("acc", 0.9, 0)])
        store.runs.log_metrics(run.id, [point("loss", 9.0, 1, 3)])  # a late, older step
        history = store.runs.metric_history(run.id, "loss")
        assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (1, 9.0), (2, 0.25)]
        assert history[0].timestamp == T0
        assert store.runs.get(run.id).metrics == {"loss": 0.25, "acc": 0.9}
        assert store.runs.metric_history(run.id, "absent") == []

    def test_nan_and_infinities_are_kept(self, store: MetadataStore) -> None:
        run = store.runs.create("p", "r")
        values = [math.nan, math.inf, -math.inf, 0.0, -1e308]
        store.runs.log_metrics(run.id, [point("x", v, i) for i, v in enumerate(values)])
        got = [m.value for m in store.runs.metric_history(run.id, "x")]
        assert math.isnan(got[0]) and got[1:] == values[1:]
        store.runs.log_metrics(run.id, [point("y", math.nan, 0)])
        assert math.isnan(store.runs.get(run.id).metrics["y"])

    def test_tags_set_replace_delete(self, store: MetadataStore) -> None:
        run = store.runs.create("p", "r", tags={"a": "1"})
        store.runs.set_tags(run.id, {"a": "2", "b": "3"})
        assert store.runs.get(run.id).tags == {"a": "2", "b": "3"}
        store.runs.delete_tag(run.id, "a")
        assert store.runs.get(run.id).tags == {"b": "3"}
        with pytest.raises(NotFoundError):
            store.runs.delete_tag(run.id, "a")

    # -- artifacts and inputs ---------------------------------------------------------------
    def test_artifacts(self, store: MetadataStore) -> None:
        run = store.runs.create("p", "r")
        first = ArtifactRef("plots/confusion", "d" * 64, "npy", 10, T0)
        store.runs.log_artifact(run.id, first)
        assert store.runs.get_artifact(run.id, "plots/confusion") == first
        second = ArtifactRef("plots/confusion", "e" * 64, "json", 12, T0)
        store.runs.log_artifact(run.id, second)
        assert store.runs.artifacts(run.id) == [second]
        with pytest.raises(NotFoundError, match="missing"):
            store.runs.get_artifact(run.id, "missing")

    def test_inputs(self, store: MetadataStore) -> None:
        run = store.runs.create("p", "r")
        data = RunInput("dataset", "iris", "3", "f" * 64)
        store.runs.add_input(run.id, data)
        store.runs.add_input(run.id, data)  # recording twice keeps one
        assert store.runs.inputs(run.id) == [data]

    def test_create_with_params_inputs_artifacts_and_a_status(self, store: MetadataStore) -> None:
        """One write for a whole run (a cached pipeline step): what it returns is what is read."""
        data = RunInput("artifact", "frame", "producer", "f" * 64)
        older = ArtifactRef("outputs/output", "d" * 64, "npy", 10, T0)
        newer = ArtifactRef("outputs/output", "e" * 64, "json", 12, T0)
        run = store.runs.create(
            "p", "step", tags={"k": "v"}, params={"c": "1.0"}, inputs=[data, data],
            artifacts=[older, newer, ArtifactRef("logs", "a" * 64, "json", 1, T0)],
            status=RunStatus.FINISHED,
        )  # fmt: skip
        got = store.runs.get(run.id)
        assert got == run
        assert got.status is RunStatus.FINISHED and got.end_time is not None
        assert got.params == {"c": "1.0"} and got.tags == {"k": "v"}
        assert store.runs.inputs(run.id) == [data]  # recorded once
        assert [a.name for a in store.runs.artifacts(run.id)] == ["logs", "outputs/output"]
        assert store.runs.get_artifact(run.id, "outputs/output") == newer  # the last wins
        plain = store.runs.create("p", "plain", params={}, inputs=(), artifacts=())
        assert plain.status is RunStatus.RUNNING and plain.end_time is None
        assert store.runs.get(plain.id) == plain
        with pytest.raises(InvalidArgumentError):
            store.runs.create("p", "bad", artifacts=[ArtifactRef("../x", "a" * 64, "json", 1, T0)])
        with pytest.raises(InvalidArgumentError):
            store.runs.create("p", "bad", params={"k" * 300: "v"})

    def test_finished_with_tag(self, store: MetadataStore) -> None:
        out = ArtifactRef("outputs/output", "d" * 64, "json", 1, T0)
        log = ArtifactRef("log", "e" * 64, "json", 1, T0)
        tagged = {"loopml.cache_key": "k1"}
        first = store.runs.create("p", "a", tags=tagged, artifacts=[out, log],
                                  status=RunStatus.FINISHED)  # fmt: skip
        time.sleep(0.002)  # start times a millisecond apart at least
        second = store.runs.create("q", "b", tags=tagged, status=RunStatus.FINISHED)
        time.sleep(0.002)
        store.runs.create("p", "running", tags=tagged, artifacts=[out])  # not finished
        store.runs.create("p", "failed", tags=tagged, status=RunStatus.FAILED)
        store.runs.create("p", "other", tags={"loopml.cache_key": "k2"},
                          status=RunStatus.FINISHED)  # fmt: skip
        found = store.runs.finished_with_tag("loopml.cache_key", "k1", prefix="outputs/")
        assert found == [(second.id, []), (first.id, [out])]  # newest first, every project
        everything = store.runs.finished_with_tag("loopml.cache_key", "k1", limit=1)
        assert everything == [(second.id, [])]
        assert store.runs.finished_with_tag("loopml.cache_key", "k1", prefix="")[1] == (
            first.id,
            [log, out],
        )
        assert store.runs.finished_with_tag("loopml.cache_key", "none") == []
        escaped = store.runs.finished_with_tag("loopml.cache_key", "k1", prefix="out_%")
        assert escaped == [(second.id, []), (first.id, [])]  # '_' and '%' match themselves
        with pytest.raises(InvalidArgumentError):
            store.runs.finished_with_tag("loopml.cache_key", "k1", limit=0)

    def test_producers_and_consumers_by_digest(self, store: MetadataStore) -> None:
        digest = "a" * 64
        maker, copier, user, other = (store.runs.create("p", n) for n in "mcuo")
        store.runs.log_artifact(maker.id, ArtifactRef("outputs/x", digest, "json", 1, T0))
        store.runs.log_artifact(copier.id, ArtifactRef("copy", digest, "json", 1, T0))
        store.runs.log_artifact(other.id, ArtifactRef("outputs/x", "b" * 64, "json", 1, T0))
        store.runs.add_input(user.id, RunInput("artifact", "frame", maker.id, digest))
        producers = store.runs.producers(digest)
        assert {run_id for run_id, _ in producers} == {maker.id, copier.id}
        assert {ref.name for _, ref in producers} == {"outputs/x", "copy"}
        assert store.runs.consumers(digest) == [
            (user.id, RunInput("artifact", "frame", maker.id, digest))
        ]
        assert store.runs.producers("c" * 64) == [] and store.runs.consumers("c" * 64) == []

    # -- search -----------------------------------------------------------------------------
    @pytest.fixture
    def populated(self, store: MetadataStore) -> dict[str, str]:
        ids = {}
        for i in range(10):
            run = store.runs.create("search", f"run-{i}", tags={"team": "a" if i % 2 else "b"})
            store.runs.log_params(run.id, {"C": str(float(i % 3)), "model": f"m{i}"})
            store.runs.log_metrics(run.id, [point("acc", i / 10, 0), point("loss", 10 - i, 0)])
            if i < 7:
                store.runs.set_status(run.id, RunStatus.FINISHED)
            ids[f"run-{i}"] = run.id
        store.runs.create("other", "elsewhere")
        return ids

    def names(self, runs: list) -> list[str]:
        return [r.name for r in runs]

    def test_search_filters(self, store: MetadataStore, populated: dict[str, str]) -> None:
        search = store.runs.search
        assert set(self.names(search(["search"], "metrics.acc > 0.65"))) == {
            "run-7",
            "run-8",
            "run-9",
        }
        assert set(self.names(search(["search"], "params.C = '1.0'"))) == {
            "run-1",
            "run-4",
            "run-7",
        }
        assert set(self.names(search(None, "tags.team != 'a' and metrics.acc >= 0.6"))) == {
            "run-6", "run-8",
        }  # fmt: skip
        assert set(self.names(search(["search"], "status = 'RUNNING'"))) == {
            "run-7",
            "run-8",
            "run-9",
        }
        assert self.names(search(["search"], "name = 'run-3'")) == ["run-3"]
        assert set(self.names(search(["search"], "params.model IN ('m1', 'm2')"))) == {
            "run-1",
            "run-2",
        }
        assert set(self.names(search(["search"], "name LIKE 'run-1%' or metrics.loss < 2"))) == {
            "run-1", "run-9",
        }  # fmt: skip
        both = "(params.C = '0.0' or params.C = '2.0') and metrics.acc < 0.5"
        assert set(self.names(search(["search"], both))) == {"run-0", "run-2", "run-3"}
        assert search(["search"], "metrics.absent > 0") == []

    def test_search_order_and_pages(self, store: MetadataStore, populated: dict[str, str]) -> None:
        ordered = store.runs.search(["search"], order_by=["metrics.acc DESC"])
        assert self.names(ordered) == [f"run-{i}" for i in range(9, -1, -1)]
        by_param = store.runs.search(["search"], order_by=["params.C ASC", "metrics.loss DESC"])
        assert self.names(by_param)[:4] == ["run-0", "run-3", "run-6", "run-9"]
        seen: list[str] = []
        token = None
        for _ in range(10):
            page = store.runs.search(
                ["search"], order_by=["metrics.acc"], limit=3, page_token=token
            )
            seen += self.names(page)
            token = page.next_page_token
            if token is None:
                break
        assert seen == [f"run-{i}" for i in range(10)]
        first = store.runs.search(["search"], "metrics.acc > 0.85")[0]
        assert first.params == {"C": "0.0", "model": "m9"} and first.metrics["acc"] == 0.9

    def test_search_default_order_is_newest_first(self, store: MetadataStore, populated) -> None:
        runs = store.runs.search(["search"])
        assert [r.start_time for r in runs] == sorted((r.start_time for r in runs), reverse=True)

    @pytest.mark.parametrize(
        ("text", "token"),
        [
            ("metrics.acc >", "ends too early"),
            ("metrics.acc > 'high'", "'high'"),
            ("params.C > 1", "'>'"),
            ("colour = 'red'", "colour"),
            ("metrics.acc > 0.5 and", "ends too early"),
            ("metrics.acc > 0.5 xor params.C = '1'", "xor"),
            ("(metrics.acc > 0.5", "ends too early"),
            ("metrics.acc ~ 3", "~"),
        ],
    )
    def test_invalid_filter_names_the_token(
        self, store: MetadataStore, text: str, token: str
    ) -> None:
        with pytest.raises(InvalidArgumentError, match="invalid filter") as info:
            store.runs.search(None, text)
        assert token in str(info.value)

    def test_invalid_limit_and_token(self, store: MetadataStore) -> None:
        with pytest.raises(InvalidArgumentError, match="limit"):
            store.runs.search(None, limit=0)
        with pytest.raises(InvalidArgumentError, match=r"page.token"):
            store.runs.search(None, page_token="garbage!")

    def test_filter_values_are_parameters_not_sql(self, store: MetadataStore, populated) -> None:
        hostile = "params.model = 'm1'' OR ''1''=''1'"
        assert store.runs.search(None, hostile) == []
        assert len(store.runs.search(["search"])) == 10

    # -- limits (issue 14.8): the same refusals from every backend ---------------------------
    @pytest.mark.security
    def test_keys_and_values_within_the_documented_limits_are_kept(
        self, store: MetadataStore
    ) -> None:
        run = store.runs.create("p", "n" * 250, tags={"k" * 250: "v" * 8000})
        store.runs.log_params(run.id, {"k" * 250: "v" * 6000})
        store.runs.log_metrics(run.id, [point("m" * 250, 1.0, 0)])
        store.runs.set_tags(run.id, {"t": "é" * 8000})  # characters, not bytes
        got = store.runs.get(run.id)
        assert got.params == {"k" * 250: "v" * 6000} and got.metrics == {"m" * 250: 1.0}
        assert got.tags == {"k" * 250: "v" * 8000, "t": "é" * 8000}

    @pytest.mark.security
    @pytest.mark.parametrize(
        ("what", "limit"),
        [
            ("param key", "250"),
            ("param value", "6000"),
            ("metric key", "250"),
            ("tag key", "250"),
            ("tag value", "8000"),
            ("run tag", "8000"),
            ("run name", "250"),
        ],
    )
    def test_too_long_is_refused_with_the_limit_named(
        self, store: MetadataStore, what: str, limit: str
    ) -> None:
        run = store.runs.create("p", "r")
        calls = {
            "param key": lambda: store.runs.log_params(run.id, {"k" * 10_000: "1"}),
            "param value": lambda: store.runs.log_params(run.id, {"C": "x" * (1 << 20)}),
            "metric key": lambda: store.runs.log_metrics(run.id, [point("m" * 251, 1.0, 0)]),
            "tag key": lambda: store.runs.set_tags(run.id, {"t" * 251: "v"}),
            "tag value": lambda: store.runs.set_tags(run.id, {"t": "v" * 8001}),
            "run tag": lambda: store.runs.create("p", "r", tags={"t": "v" * 8001}),
            "run name": lambda: store.runs.create("p", "n" * 251),
        }
        with pytest.raises(InvalidArgumentError, match=f"the limit is {limit}"):
            calls[what]()
        got = store.runs.get(run.id)
        assert (got.params, got.metrics, got.tags) == ({}, {}, {})
        assert [r.id for r in store.runs.search(["p"])] == [run.id]

    @pytest.mark.security
    @pytest.mark.parametrize(
        "what",
        ["param key", "param value", "metric key", "tag key", "tag value", "run name", "error"],
    )
    def test_nul_characters_are_refused(self, store: MetadataStore, what: str) -> None:
        run = store.runs.create("p", "r")
        calls = {
            "param key": lambda: store.runs.log_params(run.id, {"a\x00b": "1"}),
            "param value": lambda: store.runs.log_params(run.id, {"C": "1\x00"}),
            "metric key": lambda: store.runs.log_metrics(run.id, [point("m\x00", 1.0, 0)]),
            "tag key": lambda: store.runs.set_tags(run.id, {"\x00": "v"}),
            "tag value": lambda: store.runs.set_tags(run.id, {"t": "v\x00v"}),
            "run name": lambda: store.runs.create("p", "r\x00"),
            "error": lambda: store.runs.set_status(run.id, RunStatus.FAILED, "boom\x00"),
        }
        with pytest.raises(InvalidArgumentError, match="NUL"):
            calls[what]()
        got = store.runs.get(run.id)
        assert (got.params, got.metrics, got.tags, got.status) == ({}, {}, {}, "RUNNING")

    # -- hostile searches (issue 14.9): refused as the caller's mistake ----------------------
    @pytest.mark.security
    @pytest.mark.parametrize("depth", [3000, 200_000])
    def test_deeply_nested_filters_are_refused(self, store: MetadataStore, depth: int) -> None:
        text = "(" * depth + "metrics.acc > 0.5" + ")" * depth
        with pytest.raises(InvalidArgumentError, match="invalid filter"):
            store.runs.search(None, text)
        assert store.runs.search(None, "(" * 20 + "metrics.acc > 0.5" + ")" * 20) == []

    @pytest.mark.security
    def test_long_filters_are_refused(self, store: MetadataStore) -> None:
        text = " or ".join(f"params.C = '{i}'" for i in range(20_000))
        with pytest.raises(InvalidArgumentError, match="filter"):
            store.runs.search(None, text)
        with pytest.raises(InvalidArgumentError, match="NUL"):
            store.runs.search(None, "params.C = 'a\x00'")
        with pytest.raises(InvalidArgumentError, match="order_by"):
            store.runs.search(None, order_by=[f"metrics.m{i}" for i in range(100)])
        with pytest.raises(InvalidArgumentError, match="order_by"):
            store.runs.search(None, order_by=["metrics.`a\x00`"])

    @pytest.mark.security
    @pytest.mark.parametrize("offset", [2**63, 2**70, 10**30, -1, 1.5, "3", None])
    def test_page_tokens_out_of_range_are_refused(
        self, store: MetadataStore, offset: object
    ) -> None:
        import base64
        import json

        token = base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()
        with pytest.raises(InvalidArgumentError, match=r"page.token"):
            store.runs.search(None, page_token=token)
        for token in ("\x00", "e30=", "W10=", "bnVsbA==", "x" * 10_000, "🙂"):
            with pytest.raises(InvalidArgumentError, match=r"page.token"):
                store.runs.search(None, page_token=token)
