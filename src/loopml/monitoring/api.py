"""`loopml.monitoring.check`: compare current data with its reference and store the report.

report = loopml.monitoring.check("iris-api")                 # the last 10,000 predictions
report = loopml.monitoring.check("iris-api", window=2_000, reference="iris@3")
report = loopml.monitoring.check(frame, reference="iris@3")  # any data against a version
report = loopml.monitoring.check("iris-api", window=300, threshold="calibrated")
report.dataset_drift, report.drift_share, report.columns["petal_width"].drifted
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from loopml.core.datasets import ColumnProfile, Profile, profile_from_json, profile_to_json
from loopml.core.entities import FrozenDict
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.ids import new_id
from loopml.core.models import ModelVersion
from loopml.core.monitoring import ColumnDrift, MonitorReport, Performance
from loopml.core.project_config import load_project_config
from loopml.data import versions
from loopml.data.profile import profile_table
from loopml.data.readers import to_table
from loopml.monitoring import alerts as alerting
from loopml.monitoring import episodes
from loopml.monitoring.calibration import DEFAULT_ALPHA, Calibrator
from loopml.monitoring.compare import ColumnRule, compare
from loopml.monitoring.estimation import estimate
from loopml.monitoring.performance import performance
from loopml.monitoring.reference import Reference, for_model, resolve
from loopml.monitoring.thresholds import Thresholds
from loopml.monitoring.window import DEFAULT_WINDOW, read_window
from loopml.workspace import Workspace

PREDICTION = "prediction"
log = logging.getLogger("loopml.monitoring")


def check(
    target: Any,
    reference: Any = None,
    window: int | None = DEFAULT_WINDOW,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model_version: int | None = None,
    columns: Sequence[str] | None = None,
    rules: Mapping[str, ColumnRule | Mapping[str, Any]] | None = None,
    drift_share: float | None = None,
    threshold: float | str | None = None,
    alpha: float = DEFAULT_ALPHA,
    save: bool = True,
    alerts: bool = True,
    workspace: Workspace | None = None,
) -> MonitorReport:
    """Drift per column, dataset verdict, data quality and (with labels) performance.

    `target` is a deployment name (its logged predictions are the current data) or a frame,
    table or data file. `rules` sets a test and threshold per column, e.g.
    `{"age": {"test": "psi", "threshold": 0.2}}`. `threshold` judges the other columns:
    "default" (None: each test's default, the dataset drifting when `drift_share`, 0.5, of
    the columns do), "calibrated" (per column, the 1 - `alpha` quantile of the statistic on
    reference samples of the window's size; the dataset drifting when more columns drift than
    chance explains) or a number; see `loopml.monitoring.thresholds`.
    With `alerts` (and `save`), the alert rules of `loopml.yaml` are checked against a
    deployment's report (audit events, webhooks once per episode); `report.alerts` names the
    rules the report crosses.
    """
    return check_with_data(
        target, reference, window, since=since, until=until, model_version=model_version,
        columns=columns, rules=rules, drift_share=drift_share, threshold=threshold,
        alpha=alpha, save=save, alerts=alerts, workspace=workspace,
    ).report  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Checked:
    """A report with what it compared: for charts (`loopml.monitoring.html`)."""

    report: MonitorReport
    reference: Profile
    current: pa.Table  # the current data (features of the window)
    prediction_reference: ColumnProfile | None = None  # the model's outputs on the reference
    predictions: tuple[Any, ...] = ()  # the model's outputs in the window


def check_with_data(
    target: Any,
    reference: Any = None,
    window: int | None = DEFAULT_WINDOW,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model_version: int | None = None,
    columns: Sequence[str] | None = None,
    rules: Mapping[str, ColumnRule | Mapping[str, Any]] | None = None,
    drift_share: float | None = None,
    threshold: float | str | None = None,
    alpha: float = DEFAULT_ALPHA,
    save: bool = True,
    alerts: bool = True,
    workspace: Workspace | None = None,
) -> Checked:
    """`check`, also handing back the reference profile and the current data it compared."""
    judging = Thresholds.parse(threshold, alpha, drift_share)
    ws = workspace or Workspace.current()
    # Read loopml.yaml first, so that a mistake in it stops the check before any work.
    project = load_project_config(ws.config.project_root) if save and alerts else None
    parsed = {k: v if isinstance(v, ColumnRule) else ColumnRule(**v) for k, v in
              (rules or {}).items()}  # fmt: skip
    if isinstance(target, str) and not Path(target).exists():
        checked = _check_deployment(ws, target, reference, window, since, until, model_version,
                                    columns, parsed, judging)  # fmt: skip
    else:
        if reference is None:
            raise InvalidArgumentError("checking a frame needs reference= (a dataset or frame)")
        ref = resolve(ws, reference)
        current = to_table(target)
        report = _report(ws, "frame", ref, current, "frame", columns, parsed, judging)
        checked = Checked(report, ref.profile, current)
    if project and project.alerts:  # a rule on a column the deployment lacks: say so
        known = [column.name for column in checked.reference.columns]
        unknown = alerting.unknown_columns(checked.report, project.alerts, known)
        if unknown:
            report = dataclasses.replace(checked.report,
                                         quality=(*checked.report.quality, *unknown))  # fmt: skip
            checked = dataclasses.replace(checked, report=report)
    fired = alerting.evaluate(checked.report, project.alerts) if project else []
    if fired:
        checked = dataclasses.replace(checked, report=alerting.with_alerts(checked.report, fired))
    if save:
        ws.store.monitoring.save(checked.report)
    if project and project.alerts:  # after saving: the events name the stored report
        episodes.notify(ws, checked.report, project.alerts, fired, project.webhooks)
    return checked


def _check_deployment(
    ws: Workspace, name: str, reference: Any, window: int | None, since: datetime | None,
    until: datetime | None, model_version: int | None, columns: Sequence[str] | None,
    rules: Mapping[str, ColumnRule], judging: Thresholds,
) -> Checked:  # fmt: skip
    deployment = ws.store.deployments.get(name)
    route = deployment.primary
    model = ws.store.models.get_version(route.model, model_version or route.version)
    ref = resolve(ws, reference) if reference is not None else for_model(ws, model, name)
    current = read_window(ws, name, last=window, since=since, until=until,
                          model_version=model_version)  # fmt: skip
    if columns is None and model.signature is not None:
        columns = model.signature.columns
    report = _report(ws, f"deployment:{name}", ref, current.features, current.label, columns,
                     rules, judging)  # fmt: skip
    versions = {uri: _performance(ws, current.version(uri), uri) for uri in current.models}
    served = current.version(model.uri)  # the canary's answers are not the primary's
    drift, outputs = _prediction_drift(ws, model, ref, served.outputs)
    perf = versions.get(model.uri) or _performance(ws, served, model.uri)
    calibration = (served.labeled_probabilities, served.labels)
    guess = estimate(served.probabilities, calibration) if any(served.probabilities) else None
    report = MonitorReport(**{**_fields(report), "prediction_drift": drift, "performance": perf,
                              "model": model.uri, "versions": FrozenDict(versions),
                              "estimated": guess})  # fmt: skip
    return Checked(report, ref.profile, current.features, outputs, tuple(served.outputs))


def _performance(ws: Workspace, window: Any, uri: str) -> Performance:
    name, _, number = uri.rpartition("/")
    try:
        training = ws.store.models.get_version(name, int(number)).metrics
    except (NotFoundError, ValueError):
        training = {}
    return performance(window.labeled_outputs, window.labels, training,
                       window.labeled_probabilities)  # fmt: skip


def _report(
    ws: Workspace, target: str, ref: Reference, current: pa.Table, label: str,
    columns: Sequence[str] | None, rules: Mapping[str, ColumnRule], judging: Thresholds,
) -> MonitorReport:  # fmt: skip
    result = compare(ref.profile, current, columns=columns, rules=rules)
    judged = judging.judge(
        result.columns, ref.profile, rules, lambda: _calibrator(ws, ref, judging)
    )
    drifted = sum(1 for c in judged.values() if c.drifted)
    share = drifted / len(judged) if judged else 0.0
    return MonitorReport(
        id=new_id(),
        target=target,
        time=datetime.now(UTC),
        reference=ref.label,
        current=label,
        reference_rows=ref.profile.rows,
        current_rows=current.num_rows,
        dataset_drift=bool(judged) and drifted >= judging.needed(len(judged)),
        drift_share=share,
        drift_threshold=judging.share_needed(len(judged)),
        columns=FrozenDict(judged),
        quality=tuple(result.quality),
        performance=Performance(False, reason="no model: checking data only"),
    )


def _calibrator(ws: Workspace, ref: Reference, judging: Thresholds) -> Calibrator:
    folder = ws.cache_dir / "monitoring" / "calibration"
    return Calibrator(ref.key(), folder, alpha=judging.alpha)


def _fields(report: MonitorReport) -> dict[str, Any]:
    return {f: getattr(report, f) for f in report.__dataclass_fields__}


# -- prediction drift ----------------------------------------------------------------------
def _prediction_drift(
    ws: Workspace, model: ModelVersion, ref: Reference, outputs: list[Any]
) -> tuple[ColumnDrift | None, ColumnProfile | None]:
    """The model's outputs now against its outputs on the reference data (computed once per
    model and reference, then kept in the workspace cache), and that reference profile."""
    if not outputs or ref.dataset is None:
        return None, None
    try:
        profile = _reference_predictions(ws, model, ref)
    except Exception as exc:  # prediction drift is optional: say why it is missing
        log.warning("no prediction drift for %s: %s", model.uri, exc)
        return None, None
    current = pa.table({PREDICTION: pa.array(outputs)})
    result = compare(profile, current, columns=[PREDICTION])
    return result.columns.get(PREDICTION), profile.column(PREDICTION)


def _reference_predictions(ws: Workspace, model: ModelVersion, ref: Reference) -> Profile:
    assert ref.dataset is not None
    cache = ws.cache_dir / "monitoring" / f"{model.digest[:32]}-{ref.dataset.digest[:32]}.json"
    if cache.is_file():
        return profile_from_json(json.loads(cache.read_text()))
    from loopml.registry.api import load

    frame = versions.load_table(ws.artifacts, ref.dataset).to_pandas()
    outputs = load(model.uri, workspace=ws).predict(frame)
    profile = profile_table(pa.table({PREDICTION: pa.array(list(outputs.tolist()))}))
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial")
    partial.write_text(json.dumps(profile_to_json(profile)))
    partial.replace(cache)
    return profile


def history(target: str, *, limit: int = 100, workspace: Workspace | None = None) -> list:
    """Stored reports of a deployment (by name) or any target, newest first."""
    ws = workspace or Workspace.current()
    key = target if ":" in target else f"deployment:{target}"
    return ws.store.monitoring.list(key, limit)
