"""Alerts: rules from loopml.yaml checked against monitoring reports; a fired alert writes the
audit event the controller reads, then POSTs to a real webhook receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.core.alerting import AlertRule
from loopml.core.entities import FrozenDict
from loopml.core.monitoring import (
    ColumnDrift,
    MonitorReport,
    Performance,
    QualityFinding,
    report_from_json,
    report_to_json,
)
from loopml.core.project_config import ProjectConfigError
from loopml.core.serving import Label, Prediction, RouteMode
from loopml.monitoring.alerts import evaluate, fire, null_share
from tests.monitoring.receiver import Receiver
from tests.serving.conftest import iris_frame


# -- evaluate: pure, on reports built here -------------------------------------------------
def report(**changes) -> MonitorReport:
    columns = {
        "a": ColumnDrift("a", "ks", 0.001, 0.05, True, current_rows=90),
        "b": ColumnDrift("b", "psi", 0.02, 0.1, False, "categorical", current_rows=100),
    }
    base = dict(id="r1", target="deployment:iris-api", time=datetime.now(UTC),
                reference="dataset iris@1", current="last 100", reference_rows=150,
                current_rows=100, dataset_drift=True, drift_share=0.5, drift_threshold=0.5,
                columns=FrozenDict(columns), model="iris/1",
                performance=Performance(True, "classification", 40,
                                        FrozenDict({"accuracy": 0.8, "f1": 0.95})))  # fmt: skip
    return MonitorReport(**{**base, **changes})


def rule(when: str, **kwargs) -> AlertRule:
    return AlertRule(kwargs.pop("name", when), kwargs.pop("deployment", "iris-api"), when,
                     **kwargs)  # fmt: skip


def fired(rep: MonitorReport, *rules: AlertRule) -> list[str]:
    return [a.rule.name for a in evaluate(rep, rules)]


def test_dataset_drift() -> None:
    [alert] = evaluate(report(), [rule("dataset_drift")])
    assert (alert.value, alert.threshold, alert.report) == (0.5, 0.5, "r1")
    assert alert.deployment == "iris-api" and alert.model == "iris/1"
    assert "1 of 2 columns drifted" in alert.message and ": a" in alert.message
    assert fired(report(dataset_drift=False, drift_share=0.0), rule("dataset_drift")) == []


def test_column_drift_names_the_test_and_threshold() -> None:
    [alert] = evaluate(report(), [rule("column_drift", column="a")])
    assert (alert.value, alert.threshold) == (0.001, 0.05)
    assert "column 'a' drifted: ks statistic 0.001" in alert.message
    assert alert.details()["column"] == "a"
    assert fired(report(), rule("column_drift", column="b")) == []  # measured, not drifted
    assert fired(report(), rule("column_drift", column="zzz")) == []  # not in the report


def test_performance_below_a_floor() -> None:
    floor = rule("performance_below", metric="accuracy", threshold=0.9)
    [alert] = evaluate(report(), [floor])
    assert (alert.value, alert.threshold) == (0.8, 0.9)
    assert "accuracy 0.8 is below the floor 0.9 (40 labeled predictions)" in alert.message
    assert fired(report(), rule("performance_below", metric="f1", threshold=0.9)) == []
    assert fired(report(), rule("performance_below", metric="roc_auc", threshold=0.9)) == []
    no_labels = report(performance=Performance(False, reason="no labels in this window yet"))
    assert fired(no_labels, floor) == []


def test_null_share_above_a_ceiling() -> None:
    ceiling = rule("null_share_above", column="a", threshold=0.05)
    [alert] = evaluate(report(), [ceiling])  # a: 90 of 100 rows present
    assert alert.value == pytest.approx(0.1) and "10.0% missing" in alert.message
    assert fired(report(), rule("null_share_above", column="a", threshold=0.1)) == []
    assert fired(report(), rule("null_share_above", column="b", threshold=0.0)) == []
    finding = QualityFinding("c", "nulls", "column 'c' is 30.0% null", 0.3)
    gone = QualityFinding("d", "missing_column", "column 'd' is missing")
    rep = report(quality=(finding, gone))
    assert null_share(rep, "c") == 0.3 and null_share(rep, "d") == 1.0
    assert null_share(rep, "nowhere") is None
    c_rule = rule("null_share_above", name="c", column="c", threshold=0.25)
    d_rule = rule("null_share_above", name="d", column="d", threshold=0.5)
    assert fired(rep, c_rule, d_rule) == ["c", "d"]


def test_rules_apply_to_their_deployment_and_never_to_frames() -> None:
    everywhere, other = (
        rule("dataset_drift", name="all", deployment="*"),
        rule("dataset_drift", name="other", deployment="other-api"),
    )
    assert fired(report(), everywhere, other) == ["all"]
    assert fired(report(target="frame"), everywhere) == []


def test_the_report_keeps_the_names_of_fired_rules() -> None:
    rep = report(alerts=("iris-drift", "floor"))
    assert report_from_json(json.loads(json.dumps(report_to_json(rep)))) == rep
    legacy = report_to_json(report())
    del legacy["alerts"]  # reports stored before alerts existed
    assert report_from_json(legacy).alerts == ()


# -- fire and check, on a served deployment ------------------------------------------------
@pytest.fixture
def deployed(workspace, tmp_path):
    frame = iris_frame()
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    loopml.datasets.add("iris", path, workspace=workspace)
    features = frame.drop(columns=["target"])
    with loopml.start_run(project="iris", workspace=workspace) as run:
        run.use_dataset("iris", 1)
        model = LogisticRegression(max_iter=500).fit(features, frame["target"])
        loopml.registry.register("iris", model, input_example=features.head(),
                                 metrics={"accuracy": 0.97}, workspace=workspace)  # fmt: skip
    loopml.deployments.create("iris-api", "iris/1", workspace=workspace)
    return workspace, model, features


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def log_traffic(workspace, model, rows: pd.DataFrame) -> list[str]:
    outputs = model.predict(rows.fillna(rows.mean()))
    predictions = [
        Prediction(f"{i:032x}", "iris-api", "iris", 1, RouteMode.PRIMARY,
                   datetime.now(UTC), FrozenDict({k: (None if pd.isna(v) else v)
                                                  for k, v in row.items()}), int(out), 1.0)
        for i, (row, out) in enumerate(zip(rows.to_dict("records"), outputs, strict=True))
    ]  # fmt: skip
    workspace.store.predictions.log(predictions)
    return [p.id for p in predictions]


def write_rules(root: Path, url: str, allow: str = "allow_private: true") -> None:
    (root / "loopml.yaml").write_text(f"""
deployments: {{iris-api: {{model: iris@champion}}}}   # for the controller: ignored here
webhooks:
  hook: {{url: "{url}", {allow}, headers: {{X-Token: s3cret}}, timeout: 2}}
alerts:
  - {{name: iris-drift, deployment: iris-api, when: dataset_drift, notify: [hook]}}
  - {{name: petal, deployment: "*", when: column_drift, column: petal_width, notify: [hook]}}
  - {{name: floor, deployment: iris-api, when: performance_below, metric: accuracy,
     threshold: 0.99}}
  - {{name: holes, deployment: iris-api, when: null_share_above, column: sepal_width,
     threshold: 0.2, notify: [hook]}}
""")


def shifted(features: pd.DataFrame) -> pd.DataFrame:
    return features.sample(150, random_state=1) * np.array([1.0, 1.0, 1.6, 2.0])


def test_drift_fires_an_audit_event_and_a_webhook(deployed, receiver: Receiver) -> None:
    workspace, model, features = deployed
    write_rules(workspace.config.root, receiver.url())
    ids = log_traffic(workspace, model, shifted(features))
    workspace.store.predictions.add_labels([Label(i, 0) for i in ids[:60]])
    rep = loopml.monitoring.check("iris-api", workspace=workspace)
    assert rep.dataset_drift and rep.columns["petal_width"].drifted
    assert rep.alerts == ("iris-drift", "petal", "floor")
    assert workspace.store.monitoring.get(rep.id).alerts == rep.alerts
    # The triggers, one per alert, for the continuous-training controller.
    [drift] = workspace.store.audit.events("deployment:iris-api", "alert.dataset_drift")
    assert drift.actor == "monitoring"
    assert drift.details["rule"] == "iris-drift" and drift.details["report"] == rep.id
    assert drift.details["value"] == rep.drift_share
    assert drift.details["threshold"] == 0.5 and drift.details["model"] == "iris/1"
    [column] = workspace.store.audit.events("deployment:iris-api", "alert.column_drift")
    assert column.details["column"] == "petal_width"
    assert column.details["threshold"] == rep.columns["petal_width"].threshold
    [floor] = workspace.store.audit.events("deployment:iris-api", "alert.performance_below")
    assert floor.details["metric"] == "accuracy" and floor.details["threshold"] == 0.99
    assert floor.details["value"] == rep.performance.metrics["accuracy"] < 0.99
    assert floor.details["notify"] == []  # an event only
    # The webhook: one POST per alert that names it.
    bodies = {json.loads(r.body)["rule"]: json.loads(r.body) for r in receiver.drain(0.5)}
    assert set(bodies) == {"iris-drift", "petal"}
    assert bodies["iris-drift"]["action"] == "alert.dataset_drift"
    assert bodies["iris-drift"]["report"] == rep.id and bodies["iris-drift"]["deployment"] == (
        "iris-api"
    )
    assert bodies["petal"]["text"].startswith("[loopml] petal on iris-api: column 'petal_width'")
    deliveries = workspace.store.audit.events("deployment:iris-api", "webhook.delivery")
    assert len(deliveries) == 2
    assert all(e.details["deliveries"][0]["ok"] for e in deliveries)
    assert all("s3cret" not in json.dumps(dict(e.details)) for e in deliveries)


def test_no_alert_on_healthy_traffic(deployed, receiver: Receiver) -> None:
    workspace, model, features = deployed
    write_rules(workspace.config.root, receiver.url())
    log_traffic(workspace, model, features.sample(150, random_state=0))
    rep = loopml.monitoring.check("iris-api", workspace=workspace)
    assert not rep.dataset_drift and rep.alerts == ()
    assert workspace.store.audit.events("deployment:iris-api", "alert.dataset_drift") == []
    assert workspace.store.audit.events("deployment:iris-api", "webhook.delivery") == []
    assert receiver.drain() == []


def test_nulls_above_the_ceiling_fire(deployed, receiver: Receiver) -> None:
    workspace, model, features = deployed
    write_rules(workspace.config.root, receiver.url())
    rows = features.sample(150, random_state=0).reset_index(drop=True)
    rows.loc[:59, "sepal_width"] = np.nan  # 40% missing
    log_traffic(workspace, model, rows)
    rep = loopml.monitoring.check("iris-api", workspace=workspace)
    assert "holes" in rep.alerts
    [event] = workspace.store.audit.events("deployment:iris-api", "alert.null_share_above")
    assert event.details["column"] == "sepal_width"
    assert event.details["value"] == pytest.approx(0.4) and event.details["threshold"] == 0.2
    assert "holes" in {json.loads(r.body)["rule"] for r in receiver.drain(0.5)}


def test_loopback_without_an_allowance_still_records_the_trigger(
    deployed, receiver: Receiver
) -> None:
    workspace, model, features = deployed
    write_rules(workspace.config.root, receiver.url(), allow="timeout: 1")
    log_traffic(workspace, model, shifted(features))
    rep = loopml.monitoring.check("iris-api", workspace=workspace)  # does not raise
    assert "iris-drift" in rep.alerts
    assert workspace.store.audit.events("deployment:iris-api", "alert.dataset_drift")
    assert receiver.drain() == []
    [delivery] = [e for e in workspace.store.audit.events("deployment:iris-api",
                                                          "webhook.delivery")
                  if e.details["rule"] == "iris-drift"]  # fmt: skip
    [outcome] = delivery.details["deliveries"]
    assert outcome["refused"] and not outcome["ok"] and "loopback" in outcome["error"]


def test_alerts_can_be_turned_off_and_frames_never_fire(deployed, receiver: Receiver) -> None:
    workspace, model, features = deployed
    write_rules(workspace.config.root, receiver.url())
    log_traffic(workspace, model, shifted(features))
    rep = loopml.monitoring.check("iris-api", alerts=False, workspace=workspace)
    assert rep.dataset_drift and rep.alerts == ()
    rep = loopml.monitoring.check("iris-api", save=False, workspace=workspace)
    assert rep.alerts == ()  # an unsaved report is a look, not an event
    frame = loopml.monitoring.check(shifted(features), reference="iris@1", workspace=workspace)
    assert frame.dataset_drift and frame.alerts == ()
    assert workspace.store.audit.events(action="alert.dataset_drift") == []
    assert receiver.drain() == []


def test_a_broken_loopml_yaml_stops_the_check_naming_the_key(deployed) -> None:
    workspace, model, features = deployed
    path = workspace.config.root / "loopml.yaml"
    path.write_text("alerts:\n  - {name: x, deployment: iris-api, when: drift}\n")
    log_traffic(workspace, model, features.head(20))
    with pytest.raises(ProjectConfigError, match=r"alerts\[0\] \(x\)\.when: 'drift' is not"):
        loopml.monitoring.check("iris-api", workspace=workspace)
    assert loopml.monitoring.history("iris-api", workspace=workspace) == []
    loopml.monitoring.check("iris-api", alerts=False, workspace=workspace)  # opting out works


def test_fire_never_raises_on_a_missing_webhook(deployed) -> None:
    workspace, _, _ = deployed
    alerts = evaluate(report(), [rule("dataset_drift", notify=("gone",))])
    [result] = fire(workspace, alerts, {})
    assert result.recorded and not result.deliveries[0].ok
    assert "no webhook named 'gone'" in result.deliveries[0].error
