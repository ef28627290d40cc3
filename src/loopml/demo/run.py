"""`loopml demo`: the whole loop in under a minute, offline, on generated transactions.

1. v1 learns the old fraud pattern, becomes champion and serves `fraud-api` on loopback.
2. Traffic arrives with labels; partway through, fraud changes (the data drifts).
3. The controller sees the drift, retrains v2 on the newer data, gates it against v1, sends it
   20% of the traffic as a canary, judges it on labelled traffic and promotes it.
4. v3 is trained on shuffled labels: the gate rejects it.
5. v4 learns from a leaked column: it passes the gate offline, fails in canary, is rolled back.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console

from loopml.automation.controller import Controller
from loopml.automation.timeline import timeline_table
from loopml.core.command import loopml_command
from loopml.core.errors import LoopmlError
from loopml.core.loops import LoopState, Phase
from loopml.demo import data
from loopml.demo.traffic import DemoServer, send
from loopml.demo.training import DATASET, MODEL
from loopml.workspace import Workspace

DEPLOYMENT = "fraud-api"
PIPELINE_FILE = "from loopml.demo.training import training  # noqa: F401\n"
POLICY = """\
# The continuous-training policy `loopml demo` runs (see `loopml loop --help`).
policies:
  fraud-api:
    model: fraud-clf
    pipeline: pipeline.py:training
    params: {{features: {features}, quality: {quality}}}
    triggers:
      - drift: {{window: 400, min_predictions: 200}}
      - manual
    gate:
      metric: accuracy
      must_beat_by: 0.0
      min: {{accuracy: 0.75}}
      data: {{output: split.test, label: is_fraud}}
    canary:
      traffic: 0.2
      min_requests: 60
      min_labels: 60
      metric: accuracy
      max_metric_drop: 0.02
      max_latency_ratio: 5
      max_duration: 10m
      on_timeout: rollback
    cooldown: 0s
"""
MAX_CANARY_ROUNDS = 6


class Demo:
    def __init__(self, root: Path, console: Console) -> None:
        self.root = root
        self.console = console
        self.ws = Workspace.init(root)
        self.timings: dict[str, float] = defaultdict(float)
        self._phase_started: tuple[str, float] | None = None
        self.server: DemoServer | None = None
        self.seed = 100

    # -- the story -------------------------------------------------------------------------
    def run(self) -> dict[str, float]:
        try:
            self._bootstrap()
            with self._timed("serving"):
                self.server = DemoServer(self.ws, DEPLOYMENT).start()
            self._say("traffic: 300 requests like the training data, then 400 after fraud changed")
            self._traffic("old", 300)
            self._traffic("new", 400)
            with self._timed("training"):  # labelled recent data lands in the dataset
                self._add_data("new", 4000, seed=2)
            self._cycle("the drift", manual=False, expect=Phase.PROMOTED)
            self._policy(quality="bad")
            self._cycle("v3, trained on shuffled labels", manual=True, expect=Phase.REJECTED)
            self._policy(features="all")
            self._cycle("v4, which learned from a leaked column", manual=True,
                        expect=Phase.ROLLED_BACK)  # fmt: skip
        finally:
            if self.server is not None:
                self.server.stop()
        return dict(self.timings)

    def _bootstrap(self) -> None:
        with self._timed("training"):
            (self.root / "pipeline.py").write_text(PIPELINE_FILE)
            self._policy()
            self._add_data("old", 4000, seed=1)
            from loopml.pipelines.loader import load_pipeline

            load_pipeline("pipeline.py:training", self.root).run(workspace=self.ws)
            self.ws.store.models.set_alias(MODEL, "champion", 1, actor="demo",
                                           reason="the first model")  # fmt: skip
            from loopml.serving import deployments

            deployments.create(DEPLOYMENT, f"{MODEL}@champion", workspace=self.ws)
        self._say(f"v1 trained on {DATASET} v1, champion, serving {DEPLOYMENT}")

    def _cycle(self, what: str, *, manual: bool, expect: Phase) -> None:
        self._say(f"controller: a pass for {what}")
        state = self._pass(manual=manual)
        if state.phase is Phase.CANARY:
            state = self._canary()
        if state.phase is not expect:
            raise LoopmlError(f"the demo expected {expect.value} after {what}, the loop is "
                              f"{state.phase.value}: {state.error or state.trigger}")  # fmt: skip

    def _canary(self) -> LoopState:
        assert self.server is not None
        self.server.wait_for_revision(self.ws.store.deployments.revision(DEPLOYMENT))
        state = self.ws.store.loops.get(DEPLOYMENT)
        for _ in range(MAX_CANARY_ROUNDS):  # 20% of requests go to the canary: enough soon
            self._traffic("new", 300)
            state = self._pass(manual=False)
            if state.phase is not Phase.CANARY:
                return state
        return state

    def _pass(self, *, manual: bool) -> LoopState:
        controller = Controller(self.ws, observer=self._observe)
        result = controller.run_once(manual=[DEPLOYMENT] if manual else ())[0]
        self._observe("done", result.state)
        if result.steps:
            for event in self.ws.store.loops.events(DEPLOYMENT, limit=result.steps):
                self._say(f"  {event.phase.value}: {event.message}", style="dim")
        return result.state

    # -- pieces ----------------------------------------------------------------------------
    def _add_data(self, regime: str, rows: int, *, seed: int) -> None:
        from loopml.data import api as datasets

        path = self.root / f"{DATASET}-{regime}.csv"
        data.transactions(rows, regime=regime, seed=seed).to_csv(path, index=False)
        version = datasets.add(DATASET, path, workspace=self.ws)
        path.unlink()
        self._say(f"{DATASET} v{version.version}: {rows} labelled {regime}-regime transactions")

    def _traffic(self, regime: str, rows: int) -> list[str]:
        assert self.server is not None
        self.seed += 1
        with self._timed("serving"):
            return send(self.server, data.transactions(rows, regime=regime, seed=self.seed,
                                                       live=True))  # fmt: skip

    def _policy(self, features: str = "honest", quality: str = "good") -> None:
        text = POLICY.format(features=features, quality=quality)
        (self.root / "loopml.yaml").write_text(text)
        if (features, quality) != ("honest", "good"):
            self._say(f"loopml.yaml: params now features={features}, quality={quality}")

    def _observe(self, kind: str, state: LoopState) -> None:
        """Time the controller's steps by what they do: training, monitoring, judging."""
        now = time.perf_counter()
        if self._phase_started is not None:
            phase, started = self._phase_started
            self.timings[phase] += now - started
        self._phase_started = None
        if kind == "acting":
            self._phase_started = (_timing_name(state.phase), now)

    def _timed(self, name: str) -> Any:
        return _Timer(self.timings, name)

    def _say(self, text: str, style: str = "") -> None:
        self.console.print(text, style=style, markup=False, highlight=False)


def _timing_name(phase: Phase) -> str:
    if phase.settled:
        return "monitoring (trigger checks)"
    if phase is Phase.TRAINING:
        return "training"
    return "controller (gate and canary)"


class _Timer:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] += time.perf_counter() - self.started


def run_demo(workspace: Path | None, console: Console | None = None) -> dict[str, Any]:
    """Run the demo in `workspace` (a new folder when None); return its timings and paths."""
    console = console or Console()
    root = Path(workspace) if workspace else Path(tempfile.mkdtemp(prefix="loopml-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    if (root / ".loopml").exists():
        raise LoopmlError(f"{root} already holds a workspace: give the demo a new folder")
    console.print(f"loopml demo in {root}", style="bold")
    started = time.perf_counter()
    previous = Path.cwd()
    os.chdir(root)  # the pipeline finds its workspace from the current folder, as the CLI does
    try:
        demo = Demo(root.resolve(), console)
        timings = demo.run()
        report = _write_report(demo.ws, root / "demo-report.html")
        console.print(timeline_table(demo.ws.store.loops.events(DEPLOYMENT),
                                     title="every decision, with its numbers"))  # fmt: skip
    finally:
        os.chdir(previous)
    total = time.perf_counter() - started
    _print_summary(console, root, report, timings, total)
    return {"workspace": str(root), "report": str(report), "timings": timings, "total": total}


def _write_report(ws: Workspace, path: Path) -> Path:
    """The drift that started the loop: v1's live inputs against its training data."""
    from loopml.monitoring.api import check_with_data, history
    from loopml.monitoring.html import render_html

    checked = check_with_data(DEPLOYMENT, window=400, model_version=1, save=False, workspace=ws)
    page = render_html(checked.report, checked.reference, checked.current,
                       history=history(checked.report.target, limit=50, workspace=ws),
                       prediction_reference=checked.prediction_reference,
                       predictions=checked.predictions)  # fmt: skip
    path.write_text(page, encoding="utf-8")
    return path


def _print_summary(
    console: Console, root: Path, report: Path, timings: dict[str, float], total: float
) -> None:
    parts = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in sorted(timings.items()))
    console.print(f"done in {total:.1f}s ({parts})", style="bold green")
    console.print(f"drift report: {report}")
    loopml = loopml_command()  # `loopml` only when that is what a shell here would run
    folder = shlex.quote(str(Path(root).resolve()))
    console.print(f"workspace left in {root}; explore it with:")
    for command in (f"cd {folder}", f"{loopml} loop status", f"{loopml} loop history",
                    f"{loopml} models ls", f"{loopml} ui"):  # fmt: skip
        # One command a line, never wrapped: each can be pasted into a shell as printed.
        console.print(f"  {command}", markup=False, highlight=False, soft_wrap=True)
