"""`loopml loop once|run|status|history|gate`: the continuous-training controller.

`once` does one pass over the deployments that have a policy in loopml.yaml and exits; `run`
repeats a pass every interval until Ctrl-C or SIGTERM; `status` shows where each loop stands;
`gate` applies a policy's gate to a model version a pipeline run registered (for CI).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from loopml.automation.timeline import styled_phase, timeline_table
from loopml.cli.output import console, print_json, write_file

app = typer.Typer(help="The continuous-training controller (policies: in loopml.yaml).",
                  no_args_is_help=True)  # fmt: skip


def _controller(**options: Any) -> Any:
    from loopml.automation.controller import Controller
    from loopml.workspace import Workspace

    return Controller(Workspace.current(), **options)  # loopml.yaml is checked here


@app.command("once")
def once(
    deployment: list[str] = typer.Option(None, "--deployment", "-d", help="Only these."),
    trigger: list[str] = typer.Option(None, "--trigger", "-t", help="Start a cycle on this "
                                      "deployment now (a manual trigger)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:  # fmt: skip
    """One pass: evaluate triggers and take every step that can be taken now."""
    controller = _controller()
    results = controller.run_once(deployment or None, manual=trigger or ())
    _print_results(results, as_json)


@app.command("run")
def run(
    interval: float = typer.Option(30.0, "--interval", "-i", min=0.1, help="Seconds between "
                                   "passes."),
    passes: int = typer.Option(None, "--passes", min=1, help="Stop after this many passes."),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per pass."),
) -> None:  # fmt: skip
    """Repeat a pass every interval until stopped (Ctrl-C or SIGTERM)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    controller = _controller()
    done = 0
    try:
        while passes is None or done < passes:
            started = time.monotonic()
            _print_results(controller.run_once(), as_json, quiet=True)
            done += 1
            if passes is None or done < passes:
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        console().print("stopped")
    finally:
        controller.release()


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Per deployment: phase, last trigger, last decision with its numbers, next scheduled run."""
    from loopml.automation.status import loop_status
    from loopml.workspace import Workspace

    rows = loop_status(Workspace.current())
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no policies in loopml.yaml")
        return
    table = Table("deployment", "phase", "cycle", "trigger", "candidate", "last decision",
                  "next run")  # fmt: skip
    for row in rows:
        last = row["last_event"]
        table.add_row(
            row["deployment"],
            styled_phase(row["phase"]),
            str(row["cycle"]),
            escape(row["trigger"] or "-"),
            row["candidate"] or "-",
            escape(last["message"]) if last else "-",
            _next(row),
        )  # fmt: skip
    console().print(table)


@app.command("history")
def history(
    deployment: str = typer.Argument(None, help="Only this deployment."),
    limit: int = typer.Option(50, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The timeline of decisions, oldest first, with the numbers behind each."""
    from loopml.workspace import Workspace

    events = Workspace.current().store.loops.events(deployment, limit=limit)
    if as_json:
        print_json([e.to_json() for e in events])
        return
    print_timeline(events)


@app.command("gate")
def gate(
    deployment: str = typer.Argument(..., help="The deployment whose policy gates."),
    pipeline_run: str = typer.Option(..., "--pipeline-run", help="The pipeline run (id or "
                                     "prefix) that registered the candidate."),
    version_file: Path = typer.Option(None, "--version-file", help="When it passes, write the "
                                      "candidate's version number here (for a later CI step)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:  # fmt: skip
    """Gate the model version a pipeline run registered against the champion, as the
    deployment's policy says (the controller's own gate; nothing is changed); exit 1 when it
    does not pass. A version with the champion's very files passes as unchanged."""
    from loopml.automation import actions, judging, training
    from loopml.cli.runs import resolve_run_id
    from loopml.core.errors import InvalidArgumentError

    controller = _controller()
    policy = controller.policies.get(deployment)
    if policy is None:
        raise InvalidArgumentError(
            f"no policy for deployment {deployment!r} under policies: in loopml.yaml"
        )
    ws = controller.ws
    run = training.pipeline_run(ws, resolve_run_id(ws.store.runs, pipeline_run))
    if run.status.value != "FINISHED":
        raise InvalidArgumentError(f"pipeline run {run.id} ended {run.status.value}: no candidate")
    candidate = training.candidate(ws, policy, run)
    baseline = actions.champion(ws, policy)
    if baseline is not None and training.same_model(ws, candidate.uri, baseline):
        decision: dict[str, Any] = {"passed": True, "unchanged": True, "metric": policy.gate.metric,
                                    "reasons": []}  # fmt: skip
    else:
        data = judging.gate_data(ws, policy.gate, run)
        decision = judging.gate(ws, policy, candidate.uri, baseline, data)
    decision = {"candidate_version": candidate.uri, "champion": baseline, **decision}
    if decision["passed"] and version_file is not None:
        write_file(version_file, f"{candidate.version}\n")
    if as_json:
        print_json(decision)
    else:
        _print_gate(decision)
    if not decision["passed"]:
        raise typer.Exit(1)


def _print_gate(decision: dict[str, Any]) -> None:
    from loopml.registry.confidence import Interval

    candidate, champion = decision["candidate_version"], decision["champion"]
    if decision.get("unchanged"):
        console().print(f"[green]PASS[/]: {candidate} is the champion {champion} (same files): "
                        "nothing new")  # fmt: skip
        return
    metric = decision["metric"]
    verdict = "[green]PASS[/]" if decision["passed"] else "[red]FAIL[/]"
    text = f"{verdict}: {candidate} {metric} {decision['candidate'][metric]:.4g}"
    if champion is None:
        text += " (no champion yet: only the floors apply)"
    else:
        text += f" against the champion {champion} {decision['baseline'][metric]:.4g}"
    if decision.get("interval"):
        text += f"; {escape(Interval(**decision['interval']).describe())}"
    console().print(text)
    for reason in decision["reasons"]:
        console().print(f"  - {escape(reason)}")


def print_timeline(events: Any) -> None:
    console().print(timeline_table(events))


def _print_results(results: Any, as_json: bool, *, quiet: bool = False) -> None:
    if as_json:
        print_json([_result_json(r) for r in results])
        return
    for result in results:
        state = result.state
        if result.blocked:
            console().print(f"{result.deployment}: held by {result.holder} until "
                            f"{result.lease_expires:%H:%M:%S} UTC; not acting")  # fmt: skip
        elif result.steps or not quiet:
            console().print(f"{result.deployment}: {styled_phase(state.phase.value)} after "
                            f"{result.steps} step(s)" + (f" ({escape(state.error)})"
                                                          if state.error else ""))  # fmt: skip


def _next(row: dict[str, Any]) -> str:
    if row["next_scheduled_run"]:
        return str(row["next_scheduled_run"])
    if row["cooldown_ends"]:
        return f"cooldown until {row['cooldown_ends']}"
    return "on a trigger"


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "deployment": result.deployment,
        "steps": result.steps,
        "holder": result.holder,
        "lease_expires": result.lease_expires.isoformat() if result.lease_expires else None,
        "state": result.state.to_json(),
    }
