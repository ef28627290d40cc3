"""Property: after random edits to code, parameters and data, exactly the steps whose code,
parameters or inputs changed (and what depends on them) recompute; the rest are cache hits."""

from __future__ import annotations

import tempfile
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import loopml
from loopml.workspace import Workspace

# The graph: source -> left, source -> right, (left, right) -> join; alone has no inputs.
UPSTREAM = {"source": [], "left": ["source"], "right": ["source"], "join": ["left", "right"]}
NODES = [*UPSTREAM, "alone"]


def _make_step(name: str, version: int) -> Any:
    """A step whose code differs per version (a different constant in its body)."""
    inputs = UPSTREAM.get(name, [])
    if name == "source":
        signature, body = "data: pd.DataFrame, p: int", "int(data['v'].sum())"
    else:
        signature = ", ".join([*(f"{i}: int" for i in inputs), "p: int"])
        body = " + ".join(inputs) or "1"
    source = f"def {name}({signature}) -> int:\n    return ({body}) * {version + 2} + p\n"
    namespace: dict[str, Any] = {"pd": pd, "__name__": "generated_steps"}
    exec(source, namespace)
    return loopml.step(namespace[name])


def _expected_value(name: str, version: int, param: int, upstream: list[int]) -> int:
    return sum(upstream) * (version + 2) + param if upstream else (version + 2) + param


config = st.fixed_dictionaries(
    {
        "code": st.fixed_dictionaries({n: st.integers(0, 2) for n in NODES}),
        "params": st.fixed_dictionaries({n: st.integers(0, 2) for n in NODES}),
        "data": st.integers(0, 2),
    }
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(rounds=st.lists(config, min_size=2, max_size=4))
def test_exactly_the_affected_steps_recompute(rounds: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workspace = Workspace.init(folder)
        seen: set[tuple[Any, ...]] = set()
        for round_ in rounds:
            _check_round(workspace, round_, seen)
        workspace.close()


def _check_round(workspace: Workspace, round_: dict[str, Any], seen: set) -> None:
    steps = {n: _make_step(n, round_["code"][n]) for n in NODES}
    params = round_["params"]
    data = pd.DataFrame({"v": [round_["data"], 10]})

    @loopml.pipeline
    def diamond() -> None:
        source = steps["source"](data, p=params["source"])
        left = steps["left"](source, p=params["left"])
        right = steps["right"](source, p=params["right"])
        steps["join"](left, right, p=params["join"])
        steps["alone"](p=params["alone"])

    result = diamond.run(workspace=workspace)
    values: dict[str, int] = {}
    for name in NODES:
        upstream = [values[u] for u in UPSTREAM.get(name, [])]
        if name == "source":
            upstream = [round_["data"] + 10]
            key = (name, round_["code"][name], params[name], round_["data"])
        else:
            key = (name, round_["code"][name], params[name], tuple(upstream))
        values[name] = _expected_value(name, round_["code"][name], params[name], upstream)
        step = result.step(name)
        assert step.cached == (key in seen), (name, key)
        assert result.load(name) == values[name]
        seen.add(key)
