"""Logged figures and images in the UI: drawn inline on a run's page and side by side in a
comparison; images served with their own content type, nosniff, and a policy that runs
nothing; plotly figures drawn from their JSON with user text kept as text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest

import loopml
from loopml.server.ui.figures import IMAGE_POLICY, image_url
from loopml.server.ui.session import COOKIE
from tests.server.ui.conftest import HOSTILE, Demo, Visitor

figure_module = pytest.importorskip("matplotlib.figure", reason="no figures extra")


@dataclass
class Figured:
    first: str
    second: str


def _matplotlib_figure(scale: float) -> object:
    figure = figure_module.Figure(figsize=(3, 2))
    figure.subplots().plot([0, 1, 2], [scale, 2 * scale, scale])
    return figure


@pytest.fixture(scope="module")
def figured(demo: Demo) -> Iterator[Figured]:
    import plotly.graph_objects as go

    ids = []
    for scale in (1.0, 2.0):
        with loopml.start_run(project="figures", workspace=demo.workspace) as run:
            run.log_figure(_matplotlib_figure(scale), "loss")
            run.log_image(np.full((8, 8, 3), int(100 * scale), dtype=np.uint8), "sample")
            run.log_figure(go.Figure(go.Bar(x=[HOSTILE, "b"], y=[1, scale])), "bars")
            run.log_figure(_matplotlib_figure(scale), "loss.svg")
            run.log_artifact("notes.json", {"not": "an image"})
            run.log_artifact("broken.plotly.json", b"{not json")  # listed, not drawn
        ids.append(run.id)
    yield Figured(*ids)


def get(demo: Demo, path: str, token: str | None = None) -> httpx.Response:
    cookies = {COOKIE: token} if token else None
    return httpx.get(f"{demo.server.url}{path}", cookies=cookies)


def test_an_image_is_served_as_png_with_nosniff(demo: Demo, figured: Figured) -> None:
    answer = get(demo, image_url(figured.first, "loss.png"), demo.token)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"] == IMAGE_POLICY
    assert answer.content == loopml.load_artifact(
        figured.first, "loss.png", workspace=demo.workspace
    )


def test_an_svg_is_served_as_an_image_that_runs_nothing(demo: Demo, figured: Figured) -> None:
    answer = get(demo, image_url(figured.first, "loss.svg"), demo.token)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in answer.headers["content-security-policy"]
    assert "script-src" not in answer.headers["content-security-policy"]  # default-src 'none'


def test_only_images_are_served_and_only_with_a_session(demo: Demo, figured: Figured) -> None:
    assert get(demo, image_url(figured.first, "notes.json"), demo.token).status_code == 404
    assert get(demo, image_url(figured.first, "missing.png"), demo.token).status_code == 404
    assert get(demo, image_url(figured.first, "bars.plotly.json"), demo.token).status_code == 404
    refused = get(demo, image_url(figured.first, "loss.png"))
    assert refused.status_code == 303 and "/login" in refused.headers["location"]


def test_the_run_page_shows_figures_inline(visitor: Visitor, figured: Figured) -> None:
    assert visitor.open(f"/runs/{figured.first}", "run-with-figures").status == 200
    section = visitor.page.locator("[data-testid=figures]")
    images = section.locator("img")
    assert sorted(images.evaluate_all("els => els.map(e => e.alt)")) == [
        "loss.png", "loss.svg", "sample.png"
    ]  # fmt: skip
    loaded = images.evaluate_all("els => els.map(e => e.complete && e.naturalWidth > 0)")
    assert all(loaded), loaded  # the browser fetched and decoded every one
    visitor.page.wait_for_selector("[data-testid=logged-plotly] .plotly svg.main-svg")
    labels = visitor.page.locator("[data-testid=logged-plotly] .xtick text").all_text_contents()
    assert HOSTILE in labels  # drawn as text, not markup
    visitor.assert_clean()  # no console error, no alert dialog


def test_the_comparison_shows_figures_side_by_side(visitor: Visitor, figured: Figured) -> None:
    path = f"/runs/compare?run={figured.first}&run={figured.second}"
    assert visitor.open(path, "compare-figures").status == 200
    table = visitor.page.locator("[data-testid=figure-compare]")
    row = table.locator("tr", has=visitor.page.locator("th", has_text="loss.png"))
    sources = row.locator("img").evaluate_all("els => els.map(e => e.getAttribute('src'))")
    assert sources == [image_url(figured.first, "loss.png"), image_url(figured.second, "loss.png")]
    visitor.page.wait_for_selector("[data-testid=logged-plotly] .plotly svg.main-svg")
    assert table.locator("[data-testid=logged-plotly]").count() == 2
    visitor.assert_clean()
