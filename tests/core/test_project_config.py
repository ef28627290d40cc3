"""`loopml.yaml`: found at the workspace root, its alerts: and webhooks: sections parsed strictly,
other sections left alone, and every mistake reported with the file, the key and the problem."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from loopml.core.alerting import AlertRule
from loopml.core.errors import InvalidArgumentError
from loopml.core.project_config import (
    ProjectConfigError,
    load_project_config,
    project_file,
)

VALID = """
pipelines:            # another section: not ours, ignored
  train: {steps: [a, b]}
pipelines: [whatever]
webhooks:
  ops: {url: "https://hooks.example.com/x", headers: {X-Token: "s3cret"}, timeout: 2.5}
  local: {url: "http://127.0.0.1:9999/hook", allow_private: true}
  lab: {url: "http://10.1.2.3/hook", allow_private: ["10.1.0.0/16", "::1"]}
  short: https://hooks.example.com/short
alerts:
  - name: iris-drift
    deployment: iris-api
    when: dataset_drift
    notify: [ops, local]
  - {name: petal, deployment: "*", when: column_drift, column: petal_width}
  - {name: floor, deployment: iris-api, when: performance_below, metric: accuracy, threshold: 0.9}
  - {name: holes, deployment: iris-api, when: null_share_above, column: sepal_length,
     threshold: 0.1, notify: [lab]}
"""


def write(root: Path, text: str) -> Path:
    path = root / "loopml.yaml"
    path.write_text(text)
    return path


def test_a_full_file_parses(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    config = load_project_config(tmp_path)
    assert config.source == tmp_path / "loopml.yaml"
    assert set(config.webhooks) == {"ops", "local", "lab", "short"}
    ops = config.webhook("ops")
    assert ops.url == "https://hooks.example.com/x" and ops.timeout == 2.5
    assert ops.headers == {"X-Token": "s3cret"} and ops.allow_private is False
    assert "s3cret" not in repr(config)  # header values may be secrets
    assert config.webhook("local").allow_private is True
    assert config.webhook("short").url == "https://hooks.example.com/short"
    lab = config.webhook("lab")
    assert lab.allows(ipaddress.ip_address("10.1.200.7"))
    assert lab.allows(ipaddress.ip_address("::1"))
    assert not lab.allows(ipaddress.ip_address("10.2.0.1"))
    assert not ops.allows(ipaddress.ip_address("127.0.0.1"))
    assert [r.name for r in config.alerts] == ["iris-drift", "petal", "floor", "holes"]
    assert config.alerts[0] == AlertRule("iris-drift", "iris-api", "dataset_drift",
                                         notify=("ops", "local"))  # fmt: skip
    assert config.alerts[0].action == "alert.dataset_drift"
    assert config.alerts[1].applies_to("anything") and config.alerts[1].column == "petal_width"
    assert not config.alerts[2].applies_to("other-api")
    assert (config.alerts[2].metric, config.alerts[2].threshold) == ("accuracy", 0.9)
    assert (config.alerts[3].column, config.alerts[3].threshold) == ("sepal_length", 0.1)


def test_no_file_or_no_workspace_means_no_rules(tmp_path: Path) -> None:
    assert project_file(tmp_path) is None and project_file(None) is None
    assert load_project_config(tmp_path).alerts == ()
    assert load_project_config(None).webhooks == {}
    write(tmp_path, "# only a comment\n")
    assert load_project_config(tmp_path).alerts == ()
    write(tmp_path, "pipelines: {}\n")
    assert load_project_config(tmp_path).alerts == ()


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "alerts: [\n  - name: x\n")
    with pytest.raises(ProjectConfigError, match="is not valid YAML") as caught:
        load_project_config(tmp_path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, InvalidArgumentError)  # the CLI prints it as a user error
    write(tmp_path, "- just\n- a list\n")
    with pytest.raises(ProjectConfigError, match="must be a mapping of sections"):
        load_project_config(tmp_path)


HOOK = "webhooks: {ops: {url: 'https://h.example.com/x'}}\n"
RULE = "alerts:\n  - {name: r, deployment: d, when: %s}\n"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("webhooks: [a]", "webhooks", "must be a mapping"),
        ("webhooks: {ops: {url: 'ftp://h/x'}}", "webhooks.ops.url", "http:// or https://"),
        ("webhooks: {ops: {url: 'https:///x'}}", "webhooks.ops.url", "has no host"),
        ("webhooks: {ops: {url: 'https://u:p@h.example.com/'}}", "webhooks.ops.url",
         "credentials"),
        ("webhooks: {ops: {url: 'https://h.example.com:99999/'}}", "webhooks.ops.url",
         "not a valid URL"),
        ("webhooks: {ops: {timeout: 3}}", "webhooks.ops.url", "is required"),
        ("webhooks: {ops: {url: 'https://h.example.com', retries: 3}}", "webhooks.ops.retries",
         "unknown key 'retries'"),
        ("webhooks: {ops: {url: 'https://h.example.com', timeout: 0}}", "webhooks.ops.timeout",
         "at least 0.1"),
        ("webhooks: {ops: {url: 'https://h.example.com', timeout: fast}}",
         "webhooks.ops.timeout", "must be a number"),
        ("webhooks: {ops: {url: 'https://h.example.com', headers: {Host: x}}}",
         "webhooks.ops.headers", "set by loopml"),
        ("webhooks: {ops: {url: 'https://h.example.com', headers: {'a b': x}}}",
         "webhooks.ops.headers", "not a valid header name"),
        ("webhooks: {ops: {url: 'https://h.example.com', headers: {X-A: 3}}}",
         "webhooks.ops.headers.X-A", "must be text"),
        ("webhooks: {ops: {url: 'https://h.example.com', allow_private: [intranet]}}",
         "webhooks.ops.allow_private[0]", "not an IP address or network"),
        ("webhooks: {ops: {url: 'https://h.example.com', allow_private: []}}",
         "webhooks.ops.allow_private", "allows nothing"),
        ("webhooks: {'bad name': {url: 'https://h.example.com'}}", "webhooks.bad name",
         "is invalid"),
        ("alerts: {name: r}", "alerts", "must be a list"),
        ("alerts: [{deployment: d, when: dataset_drift}]", "alerts[0].name", "is required"),
        ("alerts: [{name: r, when: dataset_drift}]", "alerts[0] (r).deployment", "is required"),
        ("alerts: [{name: r, deployment: d, when: drift}]", "alerts[0] (r).when",
         "'drift' is not a condition"),
        ("alerts: [{name: r, deployment: d, when: dataset_drift, severity: high}]",
         "alerts[0].severity",
         "unknown key 'severity'"),
        (RULE % "dataset_drift, threshold: 0.3", "alerts[0] (r).threshold", "does not apply"),
        (RULE % "column_drift", "alerts[0] (r).column", "is required"),
        (RULE % "column_drift, column: a, metric: f1", "alerts[0] (r).metric",
         "does not apply"),
        (RULE % "performance_below, metric: accuracy", "alerts[0] (r).threshold",
         "is required"),
        (RULE % "performance_below, metric: rmse, threshold: 2", "alerts[0] (r).metric",
         "lower is better"),
        (RULE % "performance_below, metric: accuracy, threshold: '0.9'",
         "alerts[0] (r).threshold", "must be a number"),
        (RULE % "null_share_above, column: a, threshold: 1.5", "alerts[0] (r).threshold",
         "at most 1"),
        (RULE % "null_share_above, threshold: 0.1", "alerts[0] (r).column", "is required"),
        (RULE % "dataset_drift, notify: [pager]", "alerts[0] (r).notify[0]",
         "no webhook named 'pager'"),
        (HOOK + RULE % "dataset_drift, notify: ops", "alerts[0] (r).notify", "must be a list"),
        ("alerts:\n  - {name: r, deployment: d, when: dataset_drift}\n"
         "  - {name: r, deployment: e, when: dataset_drift}", "alerts[1].name",
         "'r' is used twice"),
        ("alerts: [{name: r, deployment: 'no/slash', when: dataset_drift}]",
         "alerts[0] (r).deployment", "is invalid"),
    ],
)  # fmt: skip
def test_invalid_keys_are_named(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProjectConfigError) as caught:
        load_project_config(tmp_path)
    message = str(caught.value)
    assert re.match(rf"{re.escape(str(path))}:\d+: {re.escape(key)}: ", message), message
    assert problem in message, message


def test_errors_name_the_line_of_the_key(tmp_path: Path) -> None:
    text = "webhooks:\n  ops: https://h.example.com\nalerts:\n  - name: r\n"
    text += "    deployment: d\n    when: dataset_drift\n    notify: [ops, pager]\n"
    write(tmp_path, text)
    with pytest.raises(ProjectConfigError, match=r"yaml:7: alerts\[0\] \(r\)\.notify\[1\]: "):
        load_project_config(tmp_path)


def test_ca_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    write(tmp_path, "webhooks: {ops: {url: 'https://h.example.com', ca_file: certs/ca.pem}}")
    assert load_project_config(tmp_path).webhook("ops").ca_file == tmp_path / "certs" / "ca.pem"
