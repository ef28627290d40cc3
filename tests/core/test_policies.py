"""The `policies:` section of loopml.yaml: a full policy parses into its records, and every
mistake is a ProjectConfigError naming the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.entities import FrozenDict
from loopml.core.policies import CanarySpec, GateSpec, Policy, Trigger
from loopml.core.project_config import ProjectConfigError, load_project_config

VALID = """\
webhooks:
  ops: https://hooks.example.com/ops
policies:
  wine-api:
    model: wine-clf
    pipeline: pipelines.py:training
    params: {C: 0.5, features: [alcohol, ph]}
    triggers:
      - schedule: "0 3 * * *"
      - new_data: wine
      - drift: {columns: [alcohol], window: 500, min_predictions: 200}
      - performance: {metric: accuracy, below: 0.85, window: 300}
      - performance: {metric: log_loss, above: 0.4}
      - drift: dataset
      - manual
    gate:
      metric: accuracy
      must_beat_by: 0.01
      min: {accuracy: 0.8}
      max: {log_loss: 0.5}
      data: {dataset: wine-holdout, version: 3, label: quality}
    canary:
      traffic: 0.25
      min_requests: 150
      min_labels: 40
      metric: f1
      max_metric_drop: 0.02
      max_error_rate_increase: 0.005
      max_latency_ratio: 1.5
      max_duration: 1.5h
      on_timeout: promote
    cooldown: 10m
    notify: [ops]
  lite-api:
    model: lite
    pipeline: pipelines.py:training
    gate: {data: {output: split.test}}
    canary: false
    cooldown: 90
"""


def load(tmp_path: Path, text: str):
    (tmp_path / "pipelines.py").write_text("def training():\n    pass\n")
    (tmp_path / "loopml.yaml").write_text(text)
    return load_project_config(tmp_path)


def test_a_full_policy_parses_into_its_records(tmp_path: Path) -> None:
    policies = load(tmp_path, VALID).policies
    assert policies["wine-api"] == Policy(
        deployment="wine-api", model="wine-clf", pipeline="pipelines.py:training",
        params=FrozenDict({"C": 0.5, "features": ["alcohol", "ph"]}),
        triggers=(
            Trigger("schedule", cron="0 3 * * *"),
            Trigger("new_data", dataset="wine"),
            Trigger("drift", columns=("alcohol",), window=500, min_predictions=200),
            Trigger("performance", metric="accuracy", below=0.85, window=300),
            Trigger("performance", metric="log_loss", above=0.4, window=200),
            Trigger("drift"),
            Trigger("manual"),
        ),
        gate=GateSpec(metric="accuracy", must_beat_by=0.01, min=FrozenDict({"accuracy": 0.8}),
                      max=FrozenDict({"log_loss": 0.5}), dataset="wine-holdout", version=3,
                      label="quality"),
        canary=CanarySpec(traffic=0.25, min_requests=150, min_labels=40, metric="f1",
                          max_metric_drop=0.02, max_error_rate_increase=0.005,
                          max_latency_ratio=1.5, max_duration=5400.0, on_timeout="promote"),
        cooldown=600.0, notify=("ops",), root=tmp_path,
    )  # fmt: skip
    lite = policies["lite-api"]
    assert lite.triggers == (Trigger("manual"),) and lite.canary is None and lite.cooldown == 90
    assert lite.gate == GateSpec(output="split.test")
    assert lite.pipeline_file == tmp_path / "pipelines.py" and lite.pipeline_name == "training"


W = "policies.wine-api"
# (id, what to change in VALID, into what, a text on the line the error names, key, problem)
BROKEN = [
    ("policy-key", "    cooldown: 10m\n", "    cooldown: 10m\n    retrain: always\n",
     "retrain:", f"{W}.retrain", "unknown key 'retrain'"),
    ("trigger-kind", "- new_data: wine", "- new_dataset: wine", "new_dataset",
     f"{W}.triggers[1].new_dataset", "unknown key"),
    ("drift-key", "window: 500,", "size: 500,", "size: 500", f"{W}.triggers[2].drift.size",
     "unknown key"),
    ("performance-key", "below: 0.85,", "floor: 0.85,", "floor:",
     f"{W}.triggers[3].performance.floor", "unknown key"),
    ("gate-key", "must_beat_by: 0.01", "beat_by: 0.01", "beat_by", f"{W}.gate.beat_by",
     "unknown key"),
    ("data-key", "label: quality}", "target: quality}", "target:", f"{W}.gate.data.target",
     "unknown key"),
    ("canary-key", "min_labels: 40", "min_label: 40", "min_label:", f"{W}.canary.min_label",
     "unknown key"),
    ("bad-cron", '"0 3 * * *"', '"0 3 * *"', "0 3 * *", f"{W}.triggers[0].schedule",
     "not a valid cron expression"),
    ("traffic-0", "traffic: 0.25", "traffic: 0", "traffic:", f"{W}.canary.traffic",
     "between 0 and 1"),
    ("traffic-1", "traffic: 0.25", "traffic: 1", "traffic:", f"{W}.canary.traffic",
     "between 0 and 1"),
    ("traffic-1.5", "traffic: 0.25", "traffic: 1.5", "traffic:", f"{W}.canary.traffic",
     "between 0 and 1"),
    ("on-timeout", "on_timeout: promote", "on_timeout: wait", "on_timeout:",
     f"{W}.canary.on_timeout", "must be promote or rollback"),
    ("below-and-above", "below: 0.85,", "below: 0.85, above: 0.95,", "above: 0.95",
     f"{W}.triggers[3].performance", "exactly one of below"),
    ("dataset-and-output", "label: quality}", "output: split.test}", "wine-holdout",
     f"{W}.gate.data", "exactly one of dataset"),
    ("unknown-webhook", "notify: [ops]", "notify: [ops, pager]", "pager", f"{W}.notify[1]",
     "no webhook named 'pager'"),
    ("bad-cooldown", "cooldown: 10m", "cooldown: 10 minutes", "10 minutes", f"{W}.cooldown",
     "must be a duration"),
    ("bad-max-duration", "max_duration: 1.5h", "max_duration: 10 minutes", "10 minutes",
     f"{W}.canary.max_duration", "must be a duration"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "where", "key", "problem"), [b[1:] for b in BROKEN],
                         ids=[b[0] for b in BROKEN])  # fmt: skip
def test_each_mistake_names_the_file_line_and_key(
    tmp_path: Path, old: str, new: str, where: str, key: str, problem: str
) -> None:
    assert VALID.count(old) == 1
    text = VALID.replace(old, new)
    [line] = [n for n, row in enumerate(text.splitlines(), 1) if where in row]
    with pytest.raises(ProjectConfigError) as error:
        load(tmp_path, text)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'loopml.yaml'}:{line}: {key}: "), message
    assert problem in message and "\n" not in message
