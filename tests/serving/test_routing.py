"""A canary gets its share of keyed requests, however alike the keys are."""

from __future__ import annotations

import pytest

from loopml.serving.routing import key_point


@pytest.mark.parametrize("pattern", ["{}", "order-{}", "0:{}", "user{:08d}"])
def test_sequential_keys_spread_evenly(pattern: str) -> None:
    points = [key_point(pattern.format(i * 20)) for i in range(5000)]
    assert 0.18 < sum(p < 0.2 for p in points) / len(points) < 0.22
    runs = longest = 0  # no long stretch of consecutive keys lands on one side
    for point in points:
        runs = runs + 1 if point >= 0.2 else 0
        longest = max(longest, runs)
    assert longest < 60


def test_a_key_always_lands_in_the_same_place() -> None:
    assert key_point("customer-42") == key_point("customer-42")
