"""The HTML report: self-contained (plotly.js inline, nothing loaded), every column drawn
against its reference, the drift trend over stored reports, and user strings escaped."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from plotly.offline import get_plotlyjs

import loopml
from loopml.data.profile import profile_table
from loopml.monitoring import charts
from loopml.monitoring.api import check_with_data
from loopml.monitoring.html import render_html
from tests.monitoring.helpers import FEATURES, deploy_iris, label, log_predictions, shifted


def _page(checked, history=()) -> str:
    return render_html(checked.report, checked.reference, checked.current, history=history,
                       prediction_reference=checked.prediction_reference,
                       predictions=checked.predictions)  # fmt: skip


def test_deployment_report_page(workspace, tmp_path) -> None:
    model = deploy_iris(workspace, tmp_path)
    ids = log_predictions(workspace, model, shifted(FEATURES.sample(150, random_state=1)))
    label(workspace, ids[:30])
    loopml.monitoring.check("iris-api", workspace=workspace)
    checked = check_with_data("iris-api", workspace=workspace)
    assert checked.report == loopml.monitoring.history("iris-api", workspace=workspace)[0]
    assert checked.current.num_rows == 150 and checked.reference.rows == 150
    assert checked.prediction_reference is not None and len(checked.predictions) == 150
    page = _page(checked, loopml.monitoring.history("iris-api", workspace=workspace))
    assert get_plotlyjs() in page  # inline, once
    assert page.count(get_plotlyjs()[:200]) == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", page)
    assert "Dataset drift: 2 of 4 columns drifted" in page
    for column in FEATURES.columns:
        assert f"<h3>{column}</h3>" in page
    assert re.search(r'<tr class="drifted"><td><a href="#column-\d">petal_width</a>', page)
    assert "<h2>Prediction drift</h2>" in page and "<h2>Drift over time</h2>" in page
    # four columns, the prediction and the trend
    assert page.count("Plotly.newPlot(") == 6
    assert "<td>accuracy</td>" in page and "<td>0.97</td>" in page
    assert "model iris/1" in page and "dataset iris@1 (150 rows)" in page


def test_one_report_has_no_trend_and_no_labels_say_why(workspace, tmp_path) -> None:
    model = deploy_iris(workspace, tmp_path)
    log_predictions(workspace, model, FEATURES.sample(100, random_state=0))
    page = _page(check_with_data("iris-api", workspace=workspace))
    assert "No dataset drift: 0 of 4 columns drifted (0% &lt; threshold 50%)" in page
    assert "one report so far" in page
    assert "not available: no labels in this window yet" in page


def test_user_strings_are_escaped(workspace) -> None:
    evil_column = "<img src=x onerror=alert(1)>"
    evil_value = "</script><script>alert(2)</script>"
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({evil_column: rng.normal(size=300),
                              "kind": rng.choice(["a", "b"], 300)})  # fmt: skip
    current = pd.DataFrame({evil_column: rng.normal(2, 1, 200),
                            "kind": rng.choice(["a", evil_value], 200)})  # fmt: skip
    checked = check_with_data(current, reference=reference, workspace=workspace)
    assert set(checked.report.columns) == {evil_column, "kind"}
    page = _page(checked)
    assert evil_column not in page and evil_value not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Monitoring: frame" in page


def test_numeric_reference_from_a_sketch_or_histogram() -> None:
    rng = np.random.default_rng(1)
    table = pa.table({"x": rng.normal(0, 1, 3000)})
    exact = profile_table(table).column("x")
    sketched = profile_table(table, exact_values_limit=100).column("x")
    assert exact.values is not None and sketched.values is None and sketched.quantiles_sketch
    histogram_only = dataclasses.replace(sketched, quantiles_sketch=None)
    current = pa.chunked_array([rng.normal(3, 1, 500)])
    shares = {}
    for name, profile in (("exact", exact), ("sketch", sketched), ("hist", histogram_only)):
        figure = charts.numeric_figure(profile, current)
        assert figure is not None
        reference, now = (np.asarray(trace.y) for trace in figure.data)
        assert reference.sum() == pytest.approx(1, abs=1e-6) and now.sum() == pytest.approx(1)
        centers = np.asarray(figure.data[0].x)
        assert abs(centers[reference.argmax()]) < 0.7 and abs(centers[now.argmax()] - 3) < 0.7
        shares[name] = reference
    assert np.abs(shares["sketch"] - shares["exact"]).max() < 0.01
    assert np.abs(shares["hist"] - shares["exact"]).max() < 0.03


def test_categorical_shares_keep_the_top_categories() -> None:
    reference = profile_table(pa.table({"c": [f"k{i % 40}" for i in range(4000)]})).column("c")
    current = pa.chunked_array([["k0"] * 50 + ["new"] * 50])
    figure = charts.categorical_figure(reference, current)
    ref_trace, cur_trace = figure.data
    labels = list(ref_trace.x)
    assert len(labels) == charts.TOP_CATEGORIES + 1 and labels[-1] == charts.OTHER
    assert labels[:2] == ["k0", "new"]  # the largest shares first
    assert sum(ref_trace.y) == pytest.approx(1) and sum(cur_trace.y) == pytest.approx(1)
    assert cur_trace.y[0] == pytest.approx(0.5) and ref_trace.y[1] == 0


def test_fired_alerts_are_shown(workspace) -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(size=200)})
    checked = check_with_data(frame, reference=frame, save=False, workspace=workspace)
    report = dataclasses.replace(checked.report, alerts=("page-oncall", "<b>drift</b>"))
    page = render_html(report, checked.reference, checked.current)
    assert "Alerts fired: page-oncall, &lt;b&gt;drift&lt;/b&gt;" in page
    assert "Alerts fired" not in render_html(checked.report, checked.reference, checked.current)
