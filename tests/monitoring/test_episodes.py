"""Alert episodes: a condition that keeps holding notifies once (a real webhook receiver on
loopback counts the POSTs), clears with a "resolved" notification, notifies again when it
holds again, renotifies after the rule's interval (time injected through the reports' times),
and the episode survives a restart (its state is in the audit log)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import loopml
from loopml.core.alerting import AlertRule, Webhook
from loopml.core.entities import FrozenDict
from loopml.core.monitoring import ColumnDrift, MonitorReport, Performance
from loopml.core.project_config import ProjectConfigError, load_project_config
from loopml.monitoring.alerts import evaluate
from loopml.monitoring.episodes import RESOLVED_ACTION, notify
from loopml.workspace import Workspace
from tests.monitoring.helpers import FEATURES, deploy_iris, log_predictions, shifted
from tests.monitoring.receiver import Receiver

TARGET = "deployment:iris-api"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def write_rules(root: Path, url: str, renotify: str = "") -> None:
    (root / "loopml.yaml").write_text(f"""
webhooks:
  hook: {{url: "{url}", allow_private: true, timeout: 2}}
alerts:
  - {{name: iris-drift, deployment: iris-api, when: dataset_drift, notify: [hook]{renotify}}}
""")


def posts(receiver: Receiver) -> list[dict]:
    return [json.loads(r.body) for r in receiver.drain(0.3)]


def test_a_condition_holding_over_28_checks_posts_once(
    workspace: Workspace, tmp_path: Path, receiver: Receiver
) -> None:
    model = deploy_iris(workspace, tmp_path)
    write_rules(workspace.config.root, receiver.url())
    log_predictions(workspace, model, shifted(FEATURES))
    reports = [loopml.monitoring.check("iris-api", window=150, workspace=workspace)
               for _ in range(28)]  # fmt: skip
    assert all(r.dataset_drift and r.alerts == ("iris-drift",) for r in reports)
    [post] = posts(receiver)
    assert post["rule"] == "iris-drift" and post["notification"] == "opened"
    [event] = workspace.store.audit.events(TARGET, "alert.dataset_drift")
    assert event.details["episode"] == post["episode"] and event.details["report"] == reports[0].id
    assert len(workspace.store.audit.events(TARGET, "webhook.delivery")) == 1

    log_predictions(workspace, model, FEATURES, start=150)  # healthy again: the episode closes
    clear = loopml.monitoring.check("iris-api", window=150, workspace=workspace)
    assert not clear.dataset_drift and clear.alerts == ()
    [resolved] = posts(receiver)
    assert resolved["event"] == "loopml.alert.resolved" and resolved["action"] == RESOLVED_ACTION
    assert resolved["episode"] == post["episode"] and resolved["report"] == clear.id
    assert resolved["text"].startswith("[loopml] resolved: iris-drift on iris-api")
    [closed] = workspace.store.audit.events(TARGET, RESOLVED_ACTION)
    assert closed.details["episode"] == post["episode"]
    loopml.monitoring.check("iris-api", window=150, workspace=workspace)
    assert posts(receiver) == []  # still clear: nothing more

    log_predictions(workspace, model, shifted(FEATURES), start=300)  # holds again: new episode
    for _ in range(3):
        loopml.monitoring.check("iris-api", window=150, workspace=workspace)
    [again] = posts(receiver)
    assert again["notification"] == "opened" and again["episode"] != post["episode"]
    assert len(workspace.store.audit.events(TARGET, "alert.dataset_drift")) == 2


def test_an_open_episode_survives_a_restart(
    workspace: Workspace, tmp_path: Path, receiver: Receiver
) -> None:
    model = deploy_iris(workspace, tmp_path)
    write_rules(workspace.config.root, receiver.url())
    log_predictions(workspace, model, shifted(FEATURES))
    loopml.monitoring.check("iris-api", window=150, workspace=workspace)
    assert len(posts(receiver)) == 1
    workspace.close()
    reopened = Workspace.open(tmp_path)  # a new process would see the same store
    try:
        for _ in range(3):
            loopml.monitoring.check("iris-api", window=150, workspace=reopened)
        assert posts(receiver) == []
    finally:
        reopened.close()


# -- renotify, with the time injected through the reports -----------------------------------
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def report(time: datetime, drifted: bool = True, measured: bool = True) -> MonitorReport:
    columns = {"a": ColumnDrift("a", "ks", 0.001 if drifted else 0.5, 0.05, drifted)}
    return MonitorReport(
        id=f"r-{time:%H%M}-{drifted}", target=TARGET, time=time, reference="dataset iris@1",
        current="last 100", reference_rows=150, current_rows=100, dataset_drift=drifted,
        drift_share=1.0 if drifted else 0.0, drift_threshold=0.5,
        columns=FrozenDict(columns if measured else {}), model="iris/1",
        performance=Performance(False, reason="no labels"),
    )  # fmt: skip


def run(workspace: Workspace, rule: AlertRule, hook: Webhook, rep: MonitorReport) -> list[str]:
    outcomes = notify(workspace, rep, [rule], evaluate(rep, [rule]), {"hook": hook})
    return [o.change for o in outcomes]


def test_renotify_after_the_interval_only(workspace: Workspace, receiver: Receiver) -> None:
    hook = Webhook("hook", receiver.url(), allow_private=True, timeout=2)
    rule = AlertRule("drift", "iris-api", "dataset_drift", notify=("hook",), renotify=6 * 3600)
    hours = [0, 1, 2, 5, 6, 7, 11, 12, 13]
    changes = [run(workspace, rule, hook, report(T0 + timedelta(hours=h))) for h in hours]
    assert changes == [["opened"], [], [], [], ["renotify"], [], [], ["renotify"], []]
    sent = posts(receiver)
    assert [p["notification"] for p in sent] == ["opened", "renotify", "renotify"]
    assert len({p["episode"] for p in sent}) == 1
    assert sent[1]["time"] == (T0 + timedelta(hours=6)).isoformat()
    # A report that cannot measure the condition neither resolves nor renotifies.
    assert run(workspace, rule, hook, report(T0 + timedelta(hours=20), False, False)) == []
    assert run(workspace, rule, hook, report(T0 + timedelta(hours=21), False)) == ["resolved"]
    assert run(workspace, rule, hook, report(T0 + timedelta(hours=22), False)) == []
    assert [p["notification"] for p in posts(receiver)] == ["resolved"]


def test_without_renotify_an_episode_notifies_once(workspace: Workspace) -> None:
    rule = AlertRule("drift", "iris-api", "dataset_drift")  # no webhooks: the audit event only
    changes = [run(workspace, rule, Webhook("unused", "http://x.invalid"),
                   report(T0 + timedelta(days=d))) for d in range(30)]  # fmt: skip
    assert changes[0] == ["opened"] and not any(changes[1:])
    [event] = workspace.store.audit.events(TARGET, "alert.dataset_drift")
    assert event.details["notification"] == "opened" and event.details["notify"] == []


def test_events_from_before_episodes_count_as_an_open_episode(workspace: Workspace) -> None:
    rule = AlertRule("drift", "iris-api", "dataset_drift")
    legacy = {"rule": "drift", "condition": "dataset_drift", "report": "old"}
    workspace.store.audit.record("monitoring", "alert.dataset_drift", TARGET, legacy)
    assert run(workspace, rule, Webhook("u", "http://x.invalid"), report(T0)) == []
    assert run(workspace, rule, Webhook("u", "http://x.invalid"), report(T0, False)) == ["resolved"]


def test_renotify_is_parsed_and_checked(tmp_path: Path) -> None:
    rule = "alerts:\n  - {name: r, deployment: d, when: dataset_drift, renotify: %s}\n"
    (tmp_path / "loopml.yaml").write_text(rule % "6h")
    assert load_project_config(tmp_path).alerts[0].renotify == 6 * 3600
    (tmp_path / "loopml.yaml").write_text(rule % "90")
    assert load_project_config(tmp_path).alerts[0].renotify == 90
    for bad, problem in (("soon", "must be a duration"), ("0", "longer than zero")):
        (tmp_path / "loopml.yaml").write_text(rule % bad)
        with pytest.raises(ProjectConfigError, match=rf"alerts\[0\] \(r\)\.renotify: .*{problem}"):
            load_project_config(tmp_path)


def test_the_rule_default_is_never(tmp_path: Path) -> None:
    (tmp_path / "loopml.yaml").write_text(
        "alerts:\n  - {name: r, deployment: d, when: dataset_drift}\n"
    )
    assert load_project_config(tmp_path).alerts[0].renotify is None
