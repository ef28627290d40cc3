"""The serving process exports its deployment's latest monitoring report on /metrics."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import loopml
from loopml.serving.metrics import ReportCollector
from tests.monitoring.helpers import FEATURES, deploy_iris, log_predictions, shifted
from tests.serving.conftest import start_server  # noqa: F401  (the fixture)

GAUGES = ("loopml_drift_share", "loopml_dataset_drift", "loopml_column_drift_statistic",
          "loopml_performance")  # fmt: skip


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _scrape_until(server, name: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        samples = _samples(server.client.get("/metrics").text)
        if any(key[0] == name for key in samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.25)


def test_metrics_show_the_latest_report(workspace, tmp_path, start_server) -> None:  # noqa: F811
    deploy_iris(workspace, tmp_path)
    server = start_server(workspace)
    before = _samples(server.client.get("/metrics").text)
    assert not any(key[0] in GAUGES for key in before)  # no report yet: no gauges
    rows = shifted(FEATURES.sample(120, random_state=3)).to_dict("records")
    answer = server.client.post("/predict", json={"instances": rows}).json()
    feedback = [{"prediction_id": i, "label": 0} for i in answer["prediction_ids"][:40]]
    assert server.client.post("/feedback", json=feedback).status_code == 200
    server.service.logger.flush()
    report = loopml.monitoring.check("iris-api", workspace=workspace)
    assert report.dataset_drift and report.performance.available
    samples = _scrape_until(server, "loopml_drift_share")  # within the 5 s cache
    assert samples[("loopml_drift_share", ())] == report.drift_share == 0.5
    assert samples[("loopml_dataset_drift", ())] == 1.0
    assert samples[("loopml_monitor_report_timestamp_seconds", ())] == pytest.approx(
        report.time.timestamp()
    )
    for name, column in report.columns.items():
        key = ("loopml_column_drift_statistic", (("column", name), ("test", column.test)))
        assert samples[key] == pytest.approx(column.statistic)
    for metric, value in report.performance.metrics.items():
        assert samples[("loopml_performance", (("metric", metric),))] == pytest.approx(value)
    assert samples[("loopml_performance", (("metric", "accuracy"),))] < 0.9


def test_the_store_is_read_at_most_every_ttl_seconds(workspace, tmp_path) -> None:
    model = deploy_iris(workspace, tmp_path)
    now, reads = [0.0], []

    def latest():
        reads.append(now[0])
        found = workspace.store.monitoring.list("deployment:iris-api", limit=1)
        return found[0] if found else None

    registry = CollectorRegistry()
    registry.register(ReportCollector(latest, ttl=5.0, clock=lambda: now[0]))
    assert b"loopml_drift_share" not in generate_latest(registry)
    log_predictions(workspace, model, FEATURES.sample(60, random_state=0))
    first = loopml.monitoring.check("iris-api", workspace=workspace)
    now[0] = 4.9
    assert b"loopml_drift_share" not in generate_latest(registry)  # cached: no report yet
    now[0] = 5.0
    assert _samples(generate_latest(registry).decode())[("loopml_drift_share", ())] == 0.0
    assert reads == [0.0, 5.0]
    log_predictions(workspace, model, shifted(FEATURES.sample(60, random_state=1)), start=100)
    second = loopml.monitoring.check("iris-api", window=60, workspace=workspace)
    assert second.drift_share > first.drift_share
    now[0] = 10.0
    assert _samples(generate_latest(registry).decode())[("loopml_drift_share", ())] == 0.5


def test_a_failing_store_keeps_the_last_report(workspace, tmp_path) -> None:
    model = deploy_iris(workspace, tmp_path)
    log_predictions(workspace, model, FEATURES.sample(60, random_state=0))
    loopml.monitoring.check("iris-api", workspace=workspace)
    now, healthy = [0.0], [True]

    def latest():
        if not healthy[0]:
            raise ConnectionError("store down")
        return workspace.store.monitoring.list("deployment:iris-api", limit=1)[0]

    registry = CollectorRegistry()
    registry.register(ReportCollector(latest, clock=lambda: now[0]))
    assert b"loopml_dataset_drift 0.0" in generate_latest(registry)
    healthy[0], now[0] = False, 60.0
    assert b"loopml_dataset_drift 0.0" in generate_latest(registry)  # the scrape still works
