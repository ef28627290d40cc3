"""`compare_parquet` checks a Parquet file a group of columns at a time and gives the same
answer as `compare` on the whole table."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.data.profile import profile_table
from loopml.monitoring.compare import ColumnRule, compare, compare_parquet


def _table(rng: np.random.Generator, n: int, shift: float) -> pa.Table:
    columns = {f"x{i}": rng.normal(shift * (i % 2), 1, n) for i in range(7)}
    columns["cat"] = pa.array(rng.choice(["a", "b", "c"] if not shift else ["a", "z"], n))
    columns["gone"] = rng.normal(0, 1, n)
    return pa.table(columns)


def test_groups_of_columns_give_the_same_answer_as_the_whole_table(tmp_path) -> None:
    rng = np.random.default_rng(5)
    reference = profile_table(_table(rng, 6_000, 0.0))
    current = _table(rng, 3_000, 1.0).drop_columns(["gone"])
    path = tmp_path / "current.parquet"
    pq.write_table(current, path, row_group_size=700)  # several row groups
    rules = {"x3": ColumnRule("psi", 0.2)}

    whole = compare(reference, current, rules=rules)
    for per_group in (1, 3, 50):
        streamed = compare_parquet(reference, path, rules=rules, columns_per_group=per_group)
        assert streamed.columns == whole.columns
        assert sorted(map(repr, streamed.quality)) == sorted(map(repr, whole.quality))
    assert {name for name, d in whole.columns.items() if d.drifted} == {"x1", "x3", "x5", "cat"}
    assert whole.columns["x3"].test == "psi"
    assert [(f.column, f.kind) for f in whole.quality if f.kind == "missing_column"] == [
        ("gone", "missing_column")
    ]

    some = compare_parquet(reference, path, columns=["x0", "cat"], columns_per_group=1)
    assert set(some.columns) == {"x0", "cat"}


def test_an_empty_file_and_a_bad_group_size(tmp_path) -> None:
    rng = np.random.default_rng(6)
    reference = profile_table(_table(rng, 2_000, 0.0))
    path = tmp_path / "empty.parquet"
    pq.write_table(_table(rng, 10, 0.0).slice(0, 0), path)
    empty = compare_parquet(reference, path)
    assert [f.kind for f in empty.quality] == ["empty_window"] and not empty.columns
    with pytest.raises(InvalidArgumentError, match="columns_per_group"):
        compare_parquet(reference, path, columns_per_group=0)
