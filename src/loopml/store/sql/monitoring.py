"""Monitoring reports in SQL: the whole report as JSON, with the fields trends need."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopml.core.errors import NotFoundError
from loopml.core.monitoring import MonitorReport, report_from_json, report_to_json
from loopml.store.base import MonitorStore
from loopml.store.sql import schema as t
from loopml.store.sql.dialect import json_safe
from loopml.store.sql.engine import read, write

MAX_REPORTS = 10_000


class SqlMonitorStore(MonitorStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, report: MonitorReport) -> None:
        row = {
            "id": report.id,
            "target": report.target,
            "ts_ms": int(report.time.timestamp() * 1000),
            "dataset_drift": report.dataset_drift,
            "drift_share": report.drift_share,
            "report": json_safe(report_to_json(report)),
        }
        write(self._engine, lambda conn: conn.execute(t.monitor_reports.insert(), row))

    def get(self, report_id: str) -> MonitorReport:
        query = sa.select(t.monitor_reports.c.report).where(t.monitor_reports.c.id == report_id)
        found = read(self._engine, lambda conn: conn.execute(query).scalar())
        if found is None:
            raise NotFoundError(f"monitoring report {report_id!r} not found")
        return report_from_json(found)

    def list(self, target: str, limit: int = 100) -> list[MonitorReport]:
        r = t.monitor_reports
        query = (
            sa.select(r.c.report)
            .where(r.c.target == target)
            .order_by(r.c.ts_ms.desc(), r.c.id)
            .limit(max(1, min(limit, MAX_REPORTS)))
        )
        rows = read(self._engine, lambda conn: list(conn.execute(query).scalars()))
        return [report_from_json(row) for row in rows]
