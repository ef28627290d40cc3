"""Signature enforcement: the fast path for row dicts gives exactly the general path's frame,
and anything it does not cover (missing keys, other types, None) falls back to it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.errors import InvalidArgumentError
from loopml.core.models import ColumnSpec, Signature
from loopml.registry.signature import enforce

MIXED = Signature((ColumnSpec("a", "float"), ColumnSpec("b", "integer"),
                   ColumnSpec("c", "boolean"), ColumnSpec("d", "float")))  # fmt: skip
FLOATS = Signature(tuple(ColumnSpec(n, "float") for n in ("x", "y", "z")))
STRINGS = Signature((ColumnSpec("a", "float"), ColumnSpec("s", "string")))

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)


def general(signature: Signature, rows: list[dict]) -> pd.DataFrame:
    """The general path: a frame from the records, then the per-column check and cast."""
    return enforce(signature, pd.DataFrame.from_records(rows))


def outcome(fn, *args):
    try:
        return fn(*args), None
    except InvalidArgumentError as exc:
        return None, str(exc)


def assert_same(signature: Signature, rows: list[dict]) -> None:
    fast, fast_error = outcome(enforce, signature, rows)
    slow, slow_error = outcome(general, signature, rows)
    assert fast_error == slow_error
    if slow is not None:
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)
        assert fast.columns.dtype == slow.columns.dtype
        assert list(fast.dtypes) == list(slow.dtypes)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({n: values for n in "abcd"}), min_size=1, max_size=5))
def test_rows_give_the_general_paths_frame_or_error(rows) -> None:
    assert_same(MIXED, rows)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {n: st.one_of(st.floats(), st.integers(-(2**70), 2**70)) for n in "xyz"},
            optional={"extra": values},
        ),
        min_size=1,
        max_size=5,
    )
)
def test_numeric_rows_match_the_general_path(rows) -> None:
    assert_same(FLOATS, rows)


@pytest.mark.parametrize(
    "rows",
    [
        [{"x": 1.5, "y": 2, "z": 3.0}],
        [{"x": 1.5, "y": 2.0}],  # a missing column: the general path's error
        [{"x": 1.5, "y": 2.0, "z": 3.0}, {"x": 1.0, "y": 2.0}],  # missing in one row: NaN
        [{"x": True, "y": 1.0, "z": 0.0}],  # bool among floats
        [{"x": None, "y": 1.0, "z": 0.0}, {"x": 2.0, "y": 1.0, "z": 0.0}],
        [{"x": math.nan, "y": 1.0, "z": 0.0}],
        [{"x": "1.0", "y": 1.0, "z": 0.0}],
    ],
)
def test_edge_rows(rows) -> None:
    assert_same(FLOATS, rows)


def test_string_columns_take_the_general_path() -> None:
    assert_same(STRINGS, [{"a": 1.0, "s": "u"}, {"a": 2, "s": "v"}])


def test_the_fast_frame_is_the_models_input() -> None:
    frame = enforce(FLOATS, [{"z": 3.0, "y": 2, "x": 1.5, "extra": "dropped"}])
    assert list(frame.columns) == ["x", "y", "z"]
    assert frame.dtypes.tolist() == [np.dtype("float64")] * 3
    assert frame.iloc[0].tolist() == [1.5, 2.0, 3.0]
    assert frame.columns.dtype == object  # not pandas 3's str: cheaper for the model's checks
    frame.iloc[0, 0] = 9.0  # each call has its own data
    assert enforce(FLOATS, [{"x": 1.5, "y": 2, "z": 3.0}]).iloc[0, 0] == 1.5
