"""Every page in a real browser: it loads with no console errors, its charts render, filters,
sorting and paging work, and links lead from a prediction to the data its model learned from."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.server.ui.conftest import HOSTILE, Demo, Visitor

CHARTS = ".plotly svg.main-svg"


def pages(demo: Demo) -> list[tuple[str, int]]:
    """(path, charts at least) for every page of the UI."""
    store = demo.workspace.store
    pipeline = store.runs.search(filter="tags.`loopml.kind` = 'pipeline'", limit=1)[0].id
    curves = [r.id for r in store.runs.search(projects=["curves"], filter="name LIKE 'sgd%'")]
    report = store.monitoring.list("deployment:fraud-api")[0].id
    return [
        ("/runs", 0),
        (f"/runs/{demo.history_run}", 1),
        ("/runs/compare?" + "&".join(f"run={r}" for r in curves), 2),
        (f"/runs/{pipeline}", 0),
        ("/pipelines", 0),
        (f"/pipelines/{pipeline}", 1),
        ("/datasets", 0),
        ("/datasets/transactions", 0),
        ("/datasets/transactions/2", 5),
        ("/datasets/transactions/diff?old=1&new=2", 0),
        ("/models", 0),
        ("/models/fraud-clf", 0),
        ("/models/fraud-clf/2", 0),
        ("/models/fraud-clf/3", 0),
        ("/deployments", 0),
        ("/deployments/fraud-api", 4),
        (f"/deployments/fraud-api/reports/{report}", 0),
        (f"/predictions/{demo.prediction}", 0),
        ("/timeline", 0),
        ("/audit", 0),
    ]


def test_every_page_loads_without_console_errors(visitor: Visitor, demo: Demo) -> None:
    for path, charts in pages(demo):
        response = visitor.open(path)
        assert response.status == 200, path
        assert visitor.page.locator("header .brand").inner_text() == "loopml"
        if charts:
            visitor.page.wait_for_selector(CHARTS)
            assert visitor.page.locator(CHARTS).count() >= charts, path
        visitor.assert_clean()


def test_the_root_redirects_to_runs(visitor: Visitor) -> None:
    visitor.open("/")
    assert urlparse(visitor.page.url).path == "/runs"
    visitor.assert_clean()


def test_a_metric_chart_draws_its_curve(visitor: Visitor, demo: Demo) -> None:
    visitor.open(f"/runs/{demo.history_run}", "run-with-loss-curve")
    chart = visitor.page.locator("[data-testid=metric-chart]").first
    chart.locator("svg.main-svg").first.wait_for()
    assert chart.locator("g.trace.scatter path.js-line").count() == 1  # the loss curve
    assert chart.locator("g.points path.point").count() == 20  # one marker per step
    visitor.assert_clean()


def test_the_filter_box_uses_the_search_syntax(visitor: Visitor) -> None:
    visitor.open("/runs")
    visitor.page.fill("input[name=q]", "metrics.accuracy > 0.95")
    visitor.follow("[data-testid=filter-form] button[type=submit]", "runs-filtered")
    rows = visitor.page.locator("[data-testid=runs] tbody tr[data-run]")
    assert rows.count() == 1  # only fraud-clf/4's run scored above 0.95
    assert float(rows.first.locator("td[data-metric=accuracy]").inner_text()) > 0.95
    assert visitor.page.input_value("input[name=q]") == "metrics.accuracy > 0.95"
    visitor.assert_clean()


def test_a_bad_filter_is_explained_not_a_crash(visitor: Visitor) -> None:
    response = visitor.open("/runs?q=metrics.accuracy+%3E%3E+1", "runs-bad-filter")
    assert response.status == 400
    assert "invalid filter" in visitor.page.locator("[data-testid=filter-error]").inner_text()
    assert visitor.page.locator("[data-testid=runs]").count() == 1  # the form and table remain


def _accuracies(visitor: Visitor) -> list[float]:
    cells = visitor.page.locator("[data-testid=runs] td[data-metric=accuracy]").all_inner_texts()
    return [float(text) for text in cells if text.strip()]


def test_sorting_by_a_column_header(visitor: Visitor) -> None:
    visitor.open("/runs?project=fraud")
    visitor.follow("a[data-sort='metrics.accuracy']", "runs-sorted-by-accuracy")
    assert parse_qs(urlparse(visitor.page.url).query)["order"] == ["metrics.accuracy DESC"]
    descending = _accuracies(visitor)
    assert len(descending) == 4 and descending == sorted(descending, reverse=True)
    rows = visitor.page.locator("[data-testid=runs] tbody tr[data-run]")
    assert rows.first.locator("td[data-metric=accuracy]").inner_text().strip()  # nulls last
    visitor.follow("a[data-sort='metrics.accuracy']")  # again: ascending
    assert _accuracies(visitor) == sorted(descending)
    assert "▲" in visitor.page.locator("a[data-sort='metrics.accuracy']").inner_text()
    visitor.assert_clean()


def test_paging_is_done_by_the_server(visitor: Visitor) -> None:
    seen: list[str] = []
    visitor.open("/runs?project=paging&limit=50&order=name+ASC")
    for _ in range(3):
        ids = visitor.page.locator("[data-testid=runs] tbody tr[data-run]")
        seen += [ids.nth(i).get_attribute("data-run") or "" for i in range(ids.count())]
        if visitor.page.locator("a[rel=next]").count() == 0:
            break
        visitor.follow("a[rel=next]")
    assert len(seen) == 130 and len(set(seen)) == 130  # 50 + 50 + 30, none twice
    names = visitor.page.locator("[data-testid=runs] a.run-link").all_inner_texts()
    assert names[0] == "p100" and names[-1] == "p129"
    assert "page 3" in visitor.page.locator(".pager").inner_text()
    visitor.assert_clean()


def test_selected_runs_are_compared(visitor: Visitor) -> None:
    visitor.open("/runs?project=curves&q=name+LIKE+%27sgd%25%27")
    boxes = visitor.page.locator("[data-testid=runs] input[type=checkbox]")
    assert boxes.count() == 3
    boxes.nth(0).check()
    boxes.nth(2).check()
    visitor.follow("[data-testid=compare]", "runs-compared")
    assert urlparse(visitor.page.url).path == "/runs/compare"
    diff = visitor.page.locator("[data-testid=param-diff] tr.differs")
    assert diff.count() == 1 and "lr" in diff.first.inner_text()  # epochs is the same
    loss = visitor.page.locator("[data-testid=metric-chart]").filter(has_text="loss")
    assert loss.locator("g.trace.scatter").count() == 2  # both runs, overlaid
    visitor.assert_clean()


def test_from_a_prediction_to_the_data_by_links(visitor: Visitor, demo: Demo) -> None:
    page = visitor.page
    visitor.open(f"/predictions/{demo.prediction}", "nav-1-prediction")
    visitor.follow("a.prediction-deployment", "nav-2-deployment")
    assert urlparse(page.url).path == "/deployments/fraud-api"
    visitor.follow("[data-testid=routes] a.route-model", "nav-3-model-version")  # the primary
    assert urlparse(page.url).path == "/models/fraud-clf/2"
    assert "promoted" in page.locator("[data-testid=gate]").inner_text()
    run_id = demo.workspace.store.models.get_version("fraud-clf", 2).run_id
    visitor.follow("[data-testid=model-run]", "nav-4-run")
    assert urlparse(page.url).path == f"/runs/{run_id}"
    visitor.follow("[data-testid=lineage] a.lineage-dataset >> nth=0", "nav-5-dataset-version")
    assert urlparse(page.url).path == "/datasets/transactions/2"
    assert "transactions" in page.locator("h1").inner_text()
    assert "version 2" in page.locator("h1").inner_text()
    visitor.assert_clean()


def test_user_text_is_shown_as_text(visitor: Visitor, demo: Demo) -> None:
    hostile = demo.workspace.store.runs.search(projects=["curves"], filter="params.note LIKE '%'")
    visitor.open("/runs?project=curves", "runs-hostile-name")
    assert visitor.page.get_by_text(HOSTILE, exact=True).count() >= 1
    assert visitor.page.locator("[data-testid=runs] img").count() == 0
    visitor.open(f"/runs/{hostile[0].id}", "run-hostile-name")
    assert HOSTILE in visitor.page.locator("h1").inner_text()
    assert visitor.page.locator("main img").count() == 0
    visitor.assert_clean()  # no dialog, no error


@pytest.mark.parametrize("path", ["/runs/0123456789abcdef0123456789abcdef", "/models/nope"])
def test_a_missing_record_is_a_404_page(visitor: Visitor, path: str) -> None:
    response = visitor.open(path)
    assert response.status == 404
    assert "not found" in visitor.page.locator("[data-testid=error]").inner_text()
