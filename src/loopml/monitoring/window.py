"""The current window of a deployment: its logged predictions, as a table of features plus
the output and (when feedback arrived) the label."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from loopml.core.serving import Prediction
from loopml.workspace import Workspace

if TYPE_CHECKING:
    from loopml.store.sql.predictions import PredictionColumns

DEFAULT_WINDOW = 10_000


@dataclasses.dataclass(frozen=True)
class Window:
    features: pa.Table
    outputs: list[Any]
    labeled_outputs: list[Any]
    labels: list[Any]
    label: str
    models: list[str]  # the versions that answered, "name/version"
    labeled_probabilities: list[Any] = dataclasses.field(default_factory=list)
    output_models: list[str] = dataclasses.field(default_factory=list)  # per output, name/version
    labeled_models: list[str] = dataclasses.field(default_factory=list)  # per label
    probabilities: list[Any] = dataclasses.field(default_factory=list)  # per output, or None

    def version(self, uri: str) -> Window:
        """The part of the window that `uri` answered (its outputs, labels, probabilities)."""
        served = [i for i, m in enumerate(self.output_models) if m == uri]
        outputs = [self.outputs[i] for i in served]
        rows = [i for i, m in enumerate(self.labeled_models) if m == uri]
        return dataclasses.replace(
            self, outputs=outputs, labeled_outputs=[self.labeled_outputs[i] for i in rows],
            probabilities=[self.probabilities[i] for i in served],
            labels=[self.labels[i] for i in rows], models=[uri], output_models=[uri] * len(outputs),
            labeled_probabilities=[self.labeled_probabilities[i] for i in rows],
            labeled_models=[uri] * len(rows),
        )  # fmt: skip


def read_window(
    ws: Workspace,
    deployment: str,
    *,
    last: int | None = DEFAULT_WINDOW,
    since: datetime | None = None,
    until: datetime | None = None,
    model_version: int | None = None,
) -> Window:
    """The newest `last` predictions in [since, until) (all of them when `last` is None),
    served answers only."""
    ws.store.deployments.get(deployment)  # NotFoundError names an unknown deployment
    label = _describe(deployment, last, since, until, model_version)
    selection = {
        "deployment": deployment, "since": since, "until": until, "version": model_version,
        "limit": last or 1_000_000,
        "newest": bool(last),
    }  # fmt: skip
    columns = getattr(ws.store.predictions, "columns", None)
    if columns is not None:  # the SQL store reads columns without a record per prediction
        return _from_columns(columns(**selection), label)
    rows = ws.store.predictions.query(**selection)
    served = [p for p in rows if p.route.value != "shadow"]
    return _window(served, label)


def _describe(deployment: str, last: int | None, since: Any, until: Any, version: Any) -> str:
    parts = [f"deployment {deployment}"]
    if last:
        parts.append(f"last {last} predictions")
    if since is not None or until is not None:
        parts.append(f"from {since or 'the start'} to {until or 'now'}")
    if version is not None:
        parts.append(f"version {version}")
    return ", ".join(parts)


def _from_columns(data: PredictionColumns, label: str) -> Window:
    served = [i for i, route in enumerate(data.route) if route != "shadow"]
    outputs = [data.output[i] for i in served]
    labeled = [i for i in served if data.labeled[i]]
    uris = [f"{name}/{version}" for name, version in zip(data.model, data.version, strict=True)]
    features = _features([data.features_json[i] for i in served])
    return Window(features, outputs, [data.output[i] for i in labeled],
                  [data.label[i] for i in labeled], label, sorted({uris[i] for i in served}),
                  [data.probabilities[i] for i in labeled], [uris[i] for i in served],
                  [uris[i] for i in labeled], [data.probabilities[i] for i in served])  # fmt: skip


def _features(texts: list[str]) -> pa.Table:
    """One JSON object per prediction -> a table, parsed by Arrow's JSON reader (C++, in
    threads; a column is the union of the keys). Strings it would read as timestamps stay
    strings, as they were logged; data it cannot read goes through Python's json."""
    if not texts:
        return pa.table({})
    import pyarrow.json as pj

    data = "\n".join(texts).encode()
    try:
        table = pj.read_json(io.BytesIO(data))
        if any(pa.types.is_timestamp(field.type) for field in table.schema):
            schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type)
                                else f for f in table.schema])  # fmt: skip
            options = pj.ParseOptions(explicit_schema=schema)
            table = pj.read_json(io.BytesIO(data), parse_options=options)
        return table
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.Table.from_pylist(json.loads("[" + ",".join(texts) + "]"))


def _window(predictions: list[Prediction], label: str) -> Window:
    features = (
        pa.Table.from_pylist([dict(p.features) for p in predictions])
        if predictions
        else (pa.table({}))
    )
    labeled = [p for p in predictions if p.labeled_time is not None]
    models = sorted({f"{p.model}/{p.version}" for p in predictions})
    return Window(features, [p.output for p in predictions], [p.output for p in labeled],
                  [p.label for p in labeled], label, models,
                  [p.probabilities for p in labeled],
                  [f"{p.model}/{p.version}" for p in predictions],
                  [f"{p.model}/{p.version}" for p in labeled],
                  [p.probabilities for p in predictions])  # fmt: skip
