"""UI tests: Debian's Chromium driven by Playwright (headless) against a real server on
loopback over the demo's workspace, built once per session.

Without /usr/bin/chromium (or the playwright package) the browser tests skip, saying why;
under CI=true they fail instead. Never `playwright install`: the browser is the distro's.
Each page visited is saved as a screenshot in tests/server/ui/screenshots/ (gitignored).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from loopml.core.auth import Role
from loopml.core.entities import Metric
from loopml.server.app import ServerSettings
from loopml.workspace import Workspace
from tests.conftest import require
from tests.server.conftest import RunningServer

CHROMIUM = Path(os.environ.get("LOOPML_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).parent / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"  # a run name and a param value that must stay text


@dataclass
class Demo:
    workspace: Workspace
    server: RunningServer
    token: str  # admin
    history_run: str  # a run with a metric logged over 20 steps
    prediction: str  # a prediction id of the demo's deployment
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from rich.console import Console

    from loopml.demo.run import run_demo

    root = tmp_path_factory.mktemp("ui") / "demo"
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("LOOPML_") and name != "LOOPML_TEST_POSTGRES_URI":
                patch.delenv(name)
        run_demo(root, console=Console(file=io.StringIO()))
    workspace = Workspace.init(root)
    history_run = _training_runs(workspace)
    prediction = workspace.store.predictions.query(deployment="fraud-api", limit=1)[0].id
    assert workspace.store.auth is not None
    token = workspace.store.auth.create_token("ui-admin", role=Role.ADMIN)
    server = RunningServer(workspace, ServerSettings()).start()
    yield Demo(workspace, server, token, history_run, prediction)
    server.stop()
    workspace.close()


def _training_runs(workspace: Workspace) -> str:
    """Runs of a project of their own: curves to chart, a hostile name, and enough to page."""
    from datetime import UTC, datetime, timedelta

    runs, start = workspace.store.runs, datetime.now(UTC)
    first = None
    for index, lr in enumerate(("0.1", "0.01", "0.001")):
        run = runs.create("curves", name=f"sgd-{lr}")
        runs.log_params(run.id, {"lr": lr, "epochs": "20"})
        curve = [1.0 / (1 + step * (index + 1)) for step in range(20)]
        runs.log_metrics(run.id, [Metric("loss", value, step, start + timedelta(seconds=step))
                                  for step, value in enumerate(curve)])  # fmt: skip
        runs.log_metrics(run.id, [Metric("acc", 0.5 + 0.02 * index, 19, start)])
        first = first or run.id
    hostile = runs.create("curves", name=HOSTILE)
    runs.log_params(hostile.id, {"note": HOSTILE})
    for index in range(130):
        runs.create("paging", name=f"p{index:03d}")
    assert first is not None
    return first


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("Playwright", "the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        require("Chromium", f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


class Visitor:
    """A logged-in browser tab that records console errors and page errors, and saves a
    screenshot of every page it opens."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))

    def open(self, path: str, shot: str | None = None) -> Any:
        """Go to `path` (charts are drawn by the time the load event fires)."""
        response = self.page.goto(self.base + path)
        self.screenshot(shot or path)
        return response

    def follow(self, selector: str, shot: str | None = None) -> Any:
        """Click a link or button and wait for the page it leads to."""
        with self.page.expect_navigation() as navigation:
            self.page.click(selector)
        if shot:
            self.screenshot(shot)
        return navigation.value

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or "root"
        target = SCREENSHOTS / f"{slug[:80]}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target

    def assert_clean(self) -> None:
        assert not self.errors, self.errors


@pytest.fixture(scope="session")
def logged_in(browser: Any, demo: Demo) -> Iterator[Any]:
    """One browser context with the admin's session cookie: its cache keeps plotly.js."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": "loopml_session", "value": demo.token, "url": demo.server.url,
                          "httpOnly": True, "sameSite": "Strict"}])  # fmt: skip
    yield context
    context.close()


@pytest.fixture
def visitor(logged_in: Any, demo: Demo) -> Iterator[Visitor]:
    page = logged_in.new_page()
    yield Visitor(page, demo.server.url)
    page.close()


@pytest.fixture
def anonymous(browser: Any, demo: Demo) -> Iterator[Visitor]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield Visitor(context.new_page(), demo.server.url)
    context.close()
