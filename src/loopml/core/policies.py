"""Continuous-training policies: the `policies:` section of `loopml.yaml`, one per deployment.

policies:
  wine-api:                          # the deployment the loop keeps fresh
    model: wine-clf                  # the registered model the pipeline produces
    pipeline: pipelines.py:training  # FILE.py:NAME, relative to loopml.yaml
    params: {C: 0.5}
    triggers:
      - schedule: "0 3 * * *"        # cron, UTC
      - new_data: wine               # a new version of this dataset
      - drift: {columns: [alcohol], window: 500, min_predictions: 200}   # or `drift: dataset`
                                     # threshold: calibrated (default) | default | a number
                                     # alpha: 0.01 (calibrated: a column's false-alarm rate)
      - performance: {metric: accuracy, below: 0.85, window: 200}        # labelled predictions
      - manual                       # `loopml loop trigger` (always allowed; listed for clarity)
    gate:
      metric: accuracy
      must_beat_by: 0.0
      min: {accuracy: 0.8}
      data: {dataset: wine-holdout, version: latest, label: target}
                                     # or {output: "split.test", label: target}
    canary:
      traffic: 0.2
      min_requests: 100              # canary predictions before judging
      min_labels: 30                 # labelled canary predictions before judging
      metric: accuracy               # compared with the primary on the same window
      max_metric_drop: 0.0
      max_error_rate_increase: 0.01
      max_latency_ratio: 2.0         # canary p99 / primary p99
      max_duration: 1h               # then on_timeout applies
      on_timeout: rollback           # or promote
    cooldown: 10m                    # between retrains
    notify: [ops]                    # webhooks for promotions, rollbacks, rejections
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

from loopml.core.config_fields import Field
from loopml.core.entities import FrozenDict
from loopml.core.errors import InvalidArgumentError
from loopml.core.names import validate_name

SCHEDULE, NEW_DATA, DRIFT, PERFORMANCE, MANUAL = (
    "schedule", "new_data", "drift", "performance", "manual",
)  # fmt: skip
ESTIMATED = "estimated_performance"  # performance estimated from served probabilities
TRIGGER_KINDS = (SCHEDULE, NEW_DATA, DRIFT, PERFORMANCE, ESTIMATED, MANUAL)
ESTIMABLE = ("accuracy", "roc_auc")
PROMOTE, ROLLBACK = "promote", "rollback"
LOWER_IS_BETTER = ("log_loss", "brier", "mse", "rmse", "mae", "mape")

_POLICY_KEYS = (
    "model", "pipeline", "params", "triggers", "gate", "canary", "cooldown", "notify",
    "reference",
)  # fmt: skip
_GATE_KEYS = ("metric", "must_beat_by", "min", "max", "data", "confidence")
_DATA_KEYS = ("dataset", "version", "output", "label")
_CANARY_KEYS = (
    "traffic", "min_requests", "min_labels", "metric", "max_metric_drop",
    "max_error_rate_increase", "max_latency_ratio", "max_duration", "on_timeout", "confidence",
)  # fmt: skip
_DRIFT_KEYS = ("columns", "window", "min_predictions", "threshold", "alpha")
CALIBRATED, DEFAULT_THRESHOLD = "calibrated", "default"  # drift thresholds (or a number)
_PERFORMANCE_KEYS = ("metric", "below", "above", "window")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


@dataclasses.dataclass(frozen=True, slots=True)
class Trigger:
    kind: str
    cron: str | None = None  # schedule
    dataset: str | None = None  # new_data
    columns: tuple[str, ...] = ()  # drift: empty means the dataset-level verdict
    metric: str | None = None  # performance
    below: float | None = None
    above: float | None = None  # for errors (lower is better)
    # drift: the newest predictions looked at; performance: the newest *labelled* ones (judged
    # once that many have labels). Both count from the start of the last cycle.
    window: int = 500
    min_predictions: int = 100  # drift: fewer than this are not judged (other triggers: no)
    threshold: float | str = CALIBRATED  # drift: "calibrated", "default" or a number
    alpha: float = 0.01  # drift, calibrated: each column's false-alarm rate

    def describe(self) -> str:
        if self.kind == SCHEDULE:
            return f"schedule {self.cron!r}"
        if self.kind == NEW_DATA:
            return f"new data in {self.dataset!r}"
        if self.kind == DRIFT:
            return f"drift in {', '.join(self.columns)}" if self.columns else "dataset drift"
        if self.kind in (PERFORMANCE, ESTIMATED):
            bound = f"below {self.below:g}" if self.below is not None else f"above {self.above:g}"
            estimated = "estimated " if self.kind == ESTIMATED else ""
            return f"{estimated}{self.metric} {bound}"
        return "manual"


@dataclasses.dataclass(frozen=True, slots=True)
class GateSpec:
    metric: str = "accuracy"
    must_beat_by: float = 0.0
    min: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    max: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    # Pass only when the confidence interval of the advantage clears must_beat_by (0: decide
    # on the point estimate, as tools without statistics do).
    confidence: float = 0.95
    dataset: str | None = None  # evaluation data: a dataset version...
    version: int | str = "latest"
    output: str | None = None  # ... or a pipeline output, "step" or "step.name"
    label: str = "target"


@dataclasses.dataclass(frozen=True, slots=True)
class CanarySpec:
    traffic: float = 0.2
    min_requests: int = 100
    min_labels: int = 30
    metric: str = "accuracy"
    max_metric_drop: float = 0.0
    max_error_rate_increase: float = 0.01
    max_latency_ratio: float = 2.0
    max_duration: float = 3600.0  # seconds
    on_timeout: str = ROLLBACK
    # Promote when the interval of the canary's advantage is above -max_metric_drop, roll back
    # when it is below; in between wait for more labels (0: decide on the point estimate).
    confidence: float = 0.95


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    deployment: str
    model: str
    pipeline: str  # FILE.py:NAME
    params: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    triggers: tuple[Trigger, ...] = ()
    gate: GateSpec = dataclasses.field(default_factory=GateSpec)
    canary: CanarySpec | None = dataclasses.field(default_factory=CanarySpec)  # None: no canary
    cooldown: float = 600.0  # seconds between retrains
    notify: tuple[str, ...] = ()
    root: Path | None = None  # the folder of loopml.yaml: pipeline files are relative to it
    # The dataset drift is judged against (NAME or NAME@VERSION), for a served model whose
    # training data is not in its lineage (registered outside a pipeline).
    reference: str | None = None

    @property
    def pipeline_file(self) -> Path:
        path = Path(self.pipeline.rsplit(":", 1)[0])
        return path if path.is_absolute() or self.root is None else self.root / path

    @property
    def pipeline_name(self) -> str:
        return self.pipeline.rsplit(":", 1)[1]


def parse_policies(section: Field, webhooks: FrozenDict | dict) -> FrozenDict:
    """deployment -> Policy, every key checked; errors name the file, line and key."""
    if section.value is None:
        return FrozenDict()
    policies = {}
    for deployment in section.mapping():
        entry = section.child(deployment)
        validate_field_name(entry, deployment)
        policies[deployment] = _policy(entry, deployment, webhooks)
    return FrozenDict(policies)


def validate_field_name(field: Field, name: str) -> None:
    try:
        validate_name(name, "name")
    except InvalidArgumentError as exc:
        raise field.error(str(exc)) from None


def _policy(entry: Field, deployment: str, webhooks: FrozenDict | dict) -> Policy:
    entry.mapping(allowed=_POLICY_KEYS)
    model = entry.child("model").required()
    validate_field_name(model, model.text())
    notify = _names(entry.child("notify"))
    for index, name in enumerate(notify):
        if name not in webhooks:
            raise (
                entry.child("notify")
                .child(index)
                .error(f"no webhook named {name!r} under webhooks:")
            )
    params = entry.child("params")
    canary = entry.child("canary")
    reference = entry.child("reference")
    return Policy(
        deployment=deployment,
        model=model.text(),
        pipeline=_pipeline(entry.child("pipeline").required(), entry.source.parent),
        params=FrozenDict(params.mapping() if params.value is not None else {}),
        triggers=_triggers(entry.child("triggers")),
        gate=_gate(entry.child("gate")),
        canary=None if canary.value is False else _canary(canary),
        cooldown=_duration(entry.child("cooldown"), 600.0),
        notify=notify,
        root=entry.source.parent,
        reference=None if reference.value is None else reference.text(),
    )


def _pipeline(field: Field, root: Path) -> str:
    text = field.text().strip()
    if ":" not in text:
        raise field.error(f"must be FILE.py:NAME, got {text!r}")
    file, name = text.rsplit(":", 1)
    path = Path(file) if Path(file).is_absolute() else root / file
    if not path.is_file():
        raise field.error(f"unknown pipeline: {path} does not exist")
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (SyntaxError, UnicodeDecodeError) as exc:
        raise field.error(f"unknown pipeline: {path} cannot be parsed: {exc}") from None
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}  # fmt: skip
    defined |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom)
                for a in n.names}  # fmt: skip
    if name not in defined:
        raise field.error(f"unknown pipeline: {path} defines no {name!r}")
    return text


def _triggers(field: Field) -> tuple[Trigger, ...]:
    if field.value is None:
        return (Trigger(MANUAL),)
    triggers = []
    for index in range(len(field.sequence())):
        triggers.append(_trigger(field.child(index)))
    return tuple(triggers)


def _trigger(field: Field) -> Trigger:
    if field.value == MANUAL:
        return Trigger(MANUAL)
    spec = field.mapping(allowed=TRIGGER_KINDS)
    if len(spec) != 1:
        raise field.error(f"one trigger per item ({', '.join(TRIGGER_KINDS)}), got {len(spec)}")
    kind = next(iter(spec))
    value = field.child(kind)
    if kind == SCHEDULE:
        return Trigger(SCHEDULE, cron=_cron(value))
    if kind == NEW_DATA:
        validate_field_name(value, value.text())
        return Trigger(NEW_DATA, dataset=value.text())
    if kind == DRIFT:
        return _drift(value)
    if kind == PERFORMANCE:
        return _performance(value)
    if kind == ESTIMATED:
        return _estimated(value)
    return Trigger(MANUAL)


def _cron(field: Field) -> str:
    from croniter import croniter

    text = field.text().strip()
    if not croniter.is_valid(text):
        raise field.error(f"{text!r} is not a valid cron expression (such as '0 3 * * *')")
    return text


def _drift(field: Field) -> Trigger:
    if field.value in ("dataset", True):
        return Trigger(DRIFT)
    field.mapping(allowed=_DRIFT_KEYS)
    window = _count(field.child("window"), 500)
    alpha = field.child("alpha")
    return Trigger(
        DRIFT,
        columns=_names(field.child("columns")),
        window=window,
        min_predictions=min(window, _count(field.child("min_predictions"), 100)),
        threshold=_drift_threshold(field.child("threshold")),
        alpha=0.01 if alpha.value is None else alpha.number(low=1e-6, high=0.49),
    )


def _drift_threshold(field: Field) -> float | str:
    if field.value is None:
        return CALIBRATED
    if field.value in (CALIBRATED, DEFAULT_THRESHOLD):
        return str(field.value)
    if isinstance(field.value, str):
        raise field.error(f"must be calibrated, default or a number, got {field.value!r}")
    return field.number(low=0.0)


def _performance(field: Field) -> Trigger:
    field.mapping(allowed=_PERFORMANCE_KEYS)
    metric = field.child("metric").required().text()
    below, above = field.child("below"), field.child("above")
    if (below.value is None) == (above.value is None):
        raise field.error("needs exactly one of below: (a floor) or above: (a ceiling for errors)")
    return Trigger(
        PERFORMANCE,
        metric=metric,
        below=None if below.value is None else below.number(),
        above=None if above.value is None else above.number(),
        window=_count(field.child("window"), 200),
    )


def _estimated(field: Field) -> Trigger:
    """Like performance, on the newest `window` predictions, labelled or not."""
    trigger = _performance(field)
    if trigger.metric not in ESTIMABLE:
        raise field.child("metric").error(
            f"can be estimated without labels for {' or '.join(ESTIMABLE)}, not {trigger.metric!r}"
        )
    if trigger.below is None:
        raise field.error("needs below: (a floor for the estimated metric)")
    return dataclasses.replace(trigger, kind=ESTIMATED, window=_count(field.child("window"), 500))


def _gate(field: Field) -> GateSpec:
    if field.value is None:
        return GateSpec()
    field.mapping(allowed=_GATE_KEYS)
    data = field.child("data")
    spec = GateSpec(
        metric=_text(field.child("metric"), "accuracy"),
        # Negative: a candidate no worse than that passes (non-inferiority).
        must_beat_by=_number(field.child("must_beat_by"), 0.0, low=None),
        min=_bounds(field.child("min")),
        max=_bounds(field.child("max")),
        confidence=_confidence(field.child("confidence")),
    )
    if data.value is None:
        return spec
    data.mapping(allowed=_DATA_KEYS)
    dataset, output = data.child("dataset"), data.child("output")
    if (dataset.value is None) == (output.value is None):
        raise data.error("needs exactly one of dataset: (a dataset version) or output: (STEP)")
    version = data.child("version")
    if version.value is not None and not (
        version.value == "latest" or (isinstance(version.value, int) and version.value > 0)
    ):
        raise version.error(f"must be a version number or 'latest', got {version.value!r}")
    return dataclasses.replace(
        spec,
        dataset=None if dataset.value is None else dataset.text(),
        version=version.value or "latest",
        output=None if output.value is None else output.text(),
        label=_text(data.child("label"), "target"),
    )


def _confidence(field: Field) -> float:
    if field.value is None:
        return 0.95
    return field.number(low=0.0, high=0.999)


def _canary(field: Field) -> CanarySpec:
    if field.value is None:
        return CanarySpec()
    field.mapping(allowed=_CANARY_KEYS)
    traffic = field.child("traffic")
    on_timeout = _text(field.child("on_timeout"), ROLLBACK)
    if on_timeout not in (PROMOTE, ROLLBACK):
        raise field.child("on_timeout").error(f"must be promote or rollback, got {on_timeout!r}")
    if traffic.value is not None and not (
        isinstance(traffic.value, int | float) and 0 < traffic.value < 1
    ):
        raise traffic.error(
            f"the canary's traffic share must be between 0 and 1, got {traffic.value!r}"
        )
    return CanarySpec(
        traffic=_number(traffic, 0.2),
        min_requests=_count(field.child("min_requests"), 100),
        min_labels=_count(field.child("min_labels"), 30, low=0),
        metric=_text(field.child("metric"), "accuracy"),
        max_metric_drop=_number(field.child("max_metric_drop"), 0.0),
        max_error_rate_increase=_number(field.child("max_error_rate_increase"), 0.01),
        max_latency_ratio=_number(field.child("max_latency_ratio"), 2.0, low=1.0),
        max_duration=_duration(field.child("max_duration"), 3600.0),
        on_timeout=on_timeout,
        confidence=_confidence(field.child("confidence")),
    )


def _names(field: Field) -> tuple[str, ...]:
    if field.value is None:
        return ()
    if isinstance(field.value, str):
        return (field.value,)
    return tuple(field.child(i).text() for i in range(len(field.sequence())))


def _bounds(field: Field) -> FrozenDict:
    if field.value is None:
        return FrozenDict()
    return FrozenDict({k: field.child(k).number() for k in field.mapping()})


def _text(field: Field, default: str) -> str:
    return default if field.value is None else field.text()


def _number(field: Field, default: float, *, low: float | None = 0.0) -> float:
    return default if field.value is None else field.number(low=low)


def _count(field: Field, default: int, *, low: int = 1) -> int:
    if field.value is None:
        return default
    if isinstance(field.value, bool) or not isinstance(field.value, int) or field.value < low:
        raise field.error(f"must be a whole number of at least {low}, got {field.value!r}")
    return int(field.value)


def _duration(field: Field, default: float) -> float:
    """Seconds, from a number or text such as 90s, 10m, 1.5h, 2d."""
    value = field.value
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise field.error(f"must be a duration such as 30s, 10m, 1h or 2d, got {value!r}")
    return float(match[1]) * _UNITS[match[2]]
