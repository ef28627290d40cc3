"""Predictions and their labels in SQL: written in batches, read by time window."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.entities import freeze
from loopml.core.errors import NotFoundError
from loopml.core.ids import ms_to_datetime, now_ms
from loopml.core.serving import Failure, Label, Prediction, RouteMode
from loopml.store.base import PredictionStore
from loopml.store.sql import prediction_deletes as deletes
from loopml.store.sql import schema as t
from loopml.store.sql.dialect import insert_ignore
from loopml.store.sql.engine import read, write

MAX_ROWS = 1_000_000


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclasses.dataclass(frozen=True)
class PredictionColumns:
    """Predictions as columns of plain values (oldest first), for reading a window fast."""

    route: list[str]
    model: list[str]
    version: list[int]
    features_json: list[str]  # each prediction's features as a JSON object, undecoded
    output: list[Any]
    label: list[Any]
    labeled: list[bool]
    probabilities: list[dict[str, float] | None]


class SqlPredictionStore(PredictionStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def log(self, predictions: Sequence[Prediction]) -> None:
        if not predictions:
            return
        rows = [
            {
                "id": p.id,
                "deployment": p.deployment,
                "model": p.model,
                "version": p.version,
                "route": p.route.value,
                "ts_ms": _ms(p.time),
                "features": dict(p.features),
                "output": p.output,
                "latency_ms": p.latency_ms,
                "probabilities": None if p.probabilities is None else dict(p.probabilities),
            }
            for p in predictions
        ]
        write(self._engine, lambda conn: conn.execute(t.predictions.insert(), rows))

    def add_labels(self, labels: Sequence[Label], *, deployment: str | None = None) -> list[str]:
        """Store labels; return the ids that match no prediction (of `deployment`, when
        given): those are not stored."""
        ids = [label.prediction_id for label in labels]

        def work(conn: Connection) -> list[str]:
            known = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                query = sa.select(t.predictions.c.id).where(t.predictions.c.id.in_(chunk))
                if deployment is not None:
                    query = query.where(t.predictions.c.deployment == deployment)
                known |= set(conn.execute(query).scalars())
            now = now_ms()
            rows = [
                {"prediction_id": x.prediction_id, "label": x.label, "ts_ms": now}
                for x in labels
                if x.prediction_id in known
            ]
            if rows:  # feedback is write-once: a second label for a prediction is ignored
                conn.execute(insert_ignore(conn, t.labels), rows)
            return [i for i in ids if i not in known]

        return write(self._engine, work)

    def query(
        self,
        *,
        deployment: str | None = None,
        model: str | None = None,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        labeled: bool = False,
        limit: int = 100_000,
        newest: bool = False,
    ) -> list[Prediction]:
        p, lab = t.predictions, t.labels
        query = _select(
            (p, lab.c.label, lab.c.ts_ms.label("labeled_ms")), deployment=deployment,
            model=model, version=version, since=since, until=until, labeled=labeled,
            limit=limit, newest=newest,
        )  # fmt: skip
        rows = read(self._engine, lambda conn: list(conn.execute(query)))
        return [_record(row) for row in (reversed(rows) if newest else rows)]

    def columns(
        self,
        *,
        deployment: str | None = None,
        model: str | None = None,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        labeled: bool = False,
        limit: int = 100_000,
        newest: bool = False,
    ) -> PredictionColumns:
        """What `query` selects, as columns, without building a record per prediction: the
        JSON comes back as text (CAST), outputs and labels decoded in one call each, the
        features left as JSON text for a columnar reader."""
        p, lab = t.predictions, t.labels
        text = [sa.cast(c, sa.Text) for c in (p.c.features, p.c.output, lab.c.label,
                                              p.c.probabilities)]  # fmt: skip
        query = _select(
            (p.c.route, p.c.model, p.c.version, *text, lab.c.ts_ms), deployment=deployment,
            model=model, version=version, since=since, until=until, labeled=labeled,
            limit=limit, newest=newest,
        )  # fmt: skip
        rows = read(self._engine, lambda conn: conn.execute(query).all())
        if newest:
            rows.reverse()
        if not rows:
            return PredictionColumns([], [], [], [], [], [], [], [])
        route, name, number, features, output, label, scores, labeled_ms = (
            list(values) for values in zip(*rows, strict=True)
        )
        features = [x if isinstance(x, str) else json.dumps(x) for x in features]
        return PredictionColumns(
            route, name, number, features, _json_all(output), _json_all(label),
            [ms is not None for ms in labeled_ms], _json_all(scores),
        )  # fmt: skip

    def count(self, deployment: str) -> int:
        query = sa.select(sa.func.count()).where(t.predictions.c.deployment == deployment)
        return read(self._engine, lambda conn: conn.execute(query).scalar_one())

    def log_failures(self, failures: Sequence[Failure]) -> None:
        rows = [
            {"deployment": f.deployment, "model": f.model, "version": f.version,
             "route": f.route.value, "ts_ms": _ms(f.time), "reason": f.reason[:300]}
            for f in failures
        ]  # fmt: skip
        if rows:
            write(self._engine, lambda conn: conn.execute(t.serving_failures.insert(), rows))

    def failure_count(
        self, deployment: str, *, model: str, version: int, since: datetime | None = None
    ) -> int:
        f = t.serving_failures
        query = sa.select(sa.func.count()).where(
            f.c.deployment == deployment, f.c.model == model, f.c.version == version
        )
        if since is not None:
            query = query.where(f.c.ts_ms >= _ms(since))
        return read(self._engine, lambda conn: conn.execute(query).scalar_one())

    def get(self, prediction_id: str) -> Prediction:
        p, lab = t.predictions, t.labels
        join = p.join(lab, lab.c.prediction_id == p.c.id, isouter=True)
        query = (
            sa.select(p, lab.c.label, lab.c.ts_ms.label("labeled_ms"))
            .select_from(join)
            .where(p.c.id == prediction_id)
            .limit(1)
        )
        row = read(self._engine, lambda conn: conn.execute(query).first())
        if row is None:
            raise NotFoundError(f"prediction {prediction_id!r} not found")
        return _record(row)

    def delete_before(self, deployment: str, before: datetime, *, actor: str = "unknown") -> int:
        return write(self._engine, lambda c: deletes.delete_before(c, deployment, before, actor))

    def forget(
        self, deployment: str, column: str, value: str | int | float | bool, *,
        actor: str = "unknown",
    ) -> dict[str, int]:  # fmt: skip
        return write(self._engine, lambda c: deletes.forget(c, deployment, column, value, actor))


def _select(
    columns: Sequence[Any], *, deployment: str | None, model: str | None, version: int | None,
    since: datetime | None, until: datetime | None, labeled: bool, limit: int, newest: bool,
) -> sa.Select:  # fmt: skip
    p, lab = t.predictions, t.labels
    join = p.join(lab, lab.c.prediction_id == p.c.id, isouter=not labeled)
    query = sa.select(*columns).select_from(join)
    for column, value in ((p.c.deployment, deployment), (p.c.model, model),
                          (p.c.version, version)):  # fmt: skip
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(p.c.ts_ms >= _ms(since))
    if until is not None:
        query = query.where(p.c.ts_ms < _ms(until))
    order = (p.c.ts_ms.desc(), p.c.pk.desc()) if newest else (p.c.ts_ms, p.c.pk)
    return query.order_by(*order).limit(max(1, min(limit, MAX_ROWS)))


def _json_all(texts: list[Any]) -> list[Any]:
    """Decode many JSON texts in one call (SQL NULL is None); a value a driver already
    decoded is kept as it is."""
    if all(x is None or isinstance(x, str) for x in texts):
        joined = ",".join("null" if x is None else x for x in texts)
        return json.loads(f"[{joined}]")  # type: ignore[no-any-return]
    return [json.loads(x) if isinstance(x, str) else x for x in texts]


def _record(row: sa.Row) -> Prediction:
    return Prediction(
        id=row.id,
        deployment=row.deployment,
        model=row.model,
        version=row.version,
        route=RouteMode(row.route),
        time=ms_to_datetime(row.ts_ms),  # type: ignore[arg-type]
        features=freeze(row.features),
        output=row.output,
        latency_ms=row.latency_ms,
        label=row.label,
        labeled_time=ms_to_datetime(row.labeled_ms) if row.labeled_ms is not None else None,
        probabilities=None if row.probabilities is None else freeze(row.probabilities),
    )
