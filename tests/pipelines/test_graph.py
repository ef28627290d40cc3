"""The graph is built and checked before anything runs."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

import loopml
from loopml.pipelines.graph import PipelineDefinitionError
from tests.pipelines import sample


def test_nodes_in_call_order_with_repeated_steps_numbered() -> None:
    graph = sample.sums.graph(n=4)
    names = [n.name for n in graph.nodes]
    assert names == ["make_frame", "halve", "total", "total_2", "add"]
    assert graph.node("add").upstream == ["total", "total_2"]
    assert graph.node("total_2").inputs["frame"].output == "second"
    assert graph.node("total").literals == {"scale": 1.0}


def test_unknown_pipeline_parameter_rejected() -> None:
    with pytest.raises(PipelineDefinitionError, match="unexpected keyword argument 'bogus'"):
        sample.sums.run(bogus=1)


def test_unknown_step_parameter_rejected_before_running(workspace) -> None:
    @loopml.pipeline
    def bad():
        sample.total(sample.make_frame(), colour="red")

    with pytest.raises(PipelineDefinitionError, match=r"step 'total'.*colour"):
        bad.run(workspace=workspace)
    assert workspace.store.runs.search() == []  # nothing ran, nothing recorded


def test_missing_step_argument_rejected() -> None:
    @loopml.pipeline
    def bad():
        sample.add(1.0)

    with pytest.raises(PipelineDefinitionError, match=r"step 'add'.*missing.*'b'"):
        bad.graph()


def test_int_output_into_dataframe_input_rejected() -> None:
    @loopml.pipeline
    def bad():
        sample.total(sample.count(n=3))

    with pytest.raises(PipelineDefinitionError, match=r"'frame' expects pandas.*DataFrame.*int"):
        bad.graph()


def test_int_output_into_float_input_accepted() -> None:
    @loopml.pipeline
    def widening():
        sample.add(sample.count(n=1), 2.0)

    assert len(widening.graph().nodes) == 2


def test_non_step_function_using_an_output_rejected() -> None:
    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.dropna()

    @loopml.pipeline
    def bad():
        sample.total(plain(sample.make_frame()))

    with pytest.raises(PipelineDefinitionError, match=r"by plain\(\).*@loopml.step"):
        bad.graph()


def test_pipeline_without_steps_rejected() -> None:
    @loopml.pipeline
    def empty():
        return 1

    with pytest.raises(PipelineDefinitionError, match=r"calls no @loopml\.step"):
        empty.graph()


def test_unhashable_literal_rejected() -> None:
    @loopml.pipeline
    def bad():
        sample.total(sample.make_frame(), scale=object())

    with pytest.raises(loopml.InvalidArgumentError, match=r"'scale'.*cannot be a parameter"):
        bad.graph()


def test_mixed_list_of_outputs_and_values_rejected() -> None:
    @loopml.pipeline
    def bad():
        sample.gather([sample.count(n=1), 2.0])

    with pytest.raises(PipelineDefinitionError, match="mixing step outputs and plain values"):
        bad.graph()


@dataclasses.dataclass
class Pair:
    left: int
    right: int


def test_dataclass_outputs_are_attributes() -> None:
    @loopml.step
    def pair() -> Pair:
        return Pair(1, 2)

    @loopml.pipeline
    def uses():
        p = pair()
        sample.add(p.left, p.right)

    graph = uses.graph()
    assert graph.node("add").inputs["a"].output == "left"
    assert graph.node("add").inputs["b"].output == "right"


def test_a_step_called_outside_a_pipeline_is_the_plain_function() -> None:
    assert sample.add(1.0, 2.0) == 3.0
