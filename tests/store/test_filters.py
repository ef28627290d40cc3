"""The search language parser, independent of any backend."""

from __future__ import annotations

import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.store.filters import BoolOp, Comparison, Field, OrderBy, parse_filter, parse_order_by


def test_blank_filter_is_none() -> None:
    assert parse_filter(None) is None
    assert parse_filter("   ") is None


def test_precedence_and_binds_tighter_than_or() -> None:
    expr = parse_filter("metrics.a > 1 or params.b = 'x' and tags.c != 'y'")
    assert isinstance(expr, BoolOp) and expr.op == "OR"
    assert isinstance(expr.items[1], BoolOp) and expr.items[1].op == "AND"


def test_quoted_keys_and_values() -> None:
    expr = parse_filter("metrics.`val loss` <= 1e-3 and params.\"lr.x\" = 'it''s'")
    assert isinstance(expr, BoolOp)
    first, second = expr.items
    assert first == Comparison(Field("metrics", "val loss"), "<=", 0.001)
    assert second == Comparison(Field("params", "lr.x"), "=", "it's")


def test_attributes_and_aliases() -> None:
    assert parse_filter("attributes.status = 'FAILED'") == Comparison(
        Field("attribute", "status"), "=", "FAILED"
    )
    assert parse_filter("metric.acc == 1") == Comparison(Field("metrics", "acc"), "=", 1.0)
    assert parse_filter("tags.t NOT IN ('a', 'b')") == Comparison(
        Field("tags", "t"), "NOT IN", ("a", "b")
    )


@pytest.mark.parametrize(
    "text",
    [
        "metrics.a >",
        "params.x = 1",
        "metrics.a = 'x'",
        "foo = 'x'",
        "metrics.a > 1 )",
        "tags.x IN 'a'",
    ],
)
def test_errors(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid filter"):
        parse_filter(text)


def test_order_by() -> None:
    assert parse_order_by(["metrics.acc DESC", "start_time"]) == [
        OrderBy(Field("metrics", "acc"), True),
        OrderBy(Field("attribute", "start_time"), False),
    ]
    with pytest.raises(InvalidArgumentError, match="unknown field"):
        parse_order_by(["bogus DESC"])
