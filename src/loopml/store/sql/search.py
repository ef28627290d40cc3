"""Translate the parsed run filter and order into SQL over indexed tables (never in Python)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import sqlalchemy as sa

from loopml.core.errors import InvalidArgumentError
from loopml.store import filters as f
from loopml.store.sql import schema as t

_ATTRIBUTE_COLUMNS = {
    "status": t.runs.c.status,
    "name": t.runs.c.name,
    "id": t.runs.c.id,
    "start_time": t.runs.c.start_ms,
    "end_time": t.runs.c.end_ms,
    "user": t.runs.c.user_name,
    "project": t.projects.c.name,
    "parent_run_id": t.runs.c.parent_run_id,
}
_KEYED_TABLES = {"metrics": t.latest_metrics, "params": t.params, "tags": t.tags}
MAX_LIMIT = 50_000
MAX_OFFSET = 1 << 62  # room for offset + limit in any backend's 64-bit OFFSET


def _compare(column: sa.ColumnElement, op: str, value: object) -> sa.ColumnElement[bool]:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "LIKE":
        return column.like(value)
    if op == "ILIKE":
        return column.ilike(value)
    if op == "IN":
        return column.in_(value)
    if op == "NOT IN":
        return column.not_in(value)
    raise InvalidArgumentError(f"unsupported operator {op!r}")


def condition(expr: f.Expr) -> sa.ColumnElement[bool]:
    if isinstance(expr, f.BoolOp):
        parts = [condition(item) for item in expr.items]
        return sa.and_(*parts) if expr.op == "AND" else sa.or_(*parts)
    field, value = expr.field, expr.value
    if field.kind == "attribute":
        column = _ATTRIBUTE_COLUMNS[field.key]
        if field.key in ("start_time", "end_time"):
            value = int(value)  # type: ignore[arg-type]
        return _compare(column, expr.op, value)
    table = _KEYED_TABLES[field.kind]
    matching = sa.select(table.c.run_pk).where(
        table.c.key == field.key, _compare(table.c.value, expr.op, value)
    )
    return t.runs.c.pk.in_(matching)


def ordering(
    query: sa.Select, order_by: Sequence[f.OrderBy]
) -> tuple[sa.Select, list[sa.ColumnElement]]:
    """Join what the order needs; the run id breaks ties so pages are stable."""
    clauses: list[sa.ColumnElement] = []
    for index, item in enumerate(order_by):
        if item.field.kind == "attribute":
            column = _ATTRIBUTE_COLUMNS[item.field.key]
        else:
            table = _KEYED_TABLES[item.field.kind].alias(f"order_{index}")
            query = query.outerjoin(
                table, sa.and_(table.c.run_pk == t.runs.c.pk, table.c.key == item.field.key)
            )
            column = table.c.value
        clauses.append((column.desc() if item.descending else column.asc()).nulls_last())
    if not order_by:
        clauses.append(t.runs.c.start_ms.desc())
    clauses.append(t.runs.c.pk.asc())
    return query, clauses


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    if not isinstance(token, str) or len(token) > 200:
        raise InvalidArgumentError(f"invalid page token {str(token)[:60]!r}")
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < MAX_OFFSET:
            raise ValueError  # beyond a 64-bit OFFSET: a token this store never made
        return offset
    except Exception:
        raise InvalidArgumentError(f"invalid page token {token!r}") from None


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit
