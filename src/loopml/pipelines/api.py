"""The pipeline functions that `loopml` re-exports."""

from __future__ import annotations

from loopml.core.pipelines import PipelineRun
from loopml.pipelines.records import read_pipeline_run
from loopml.workspace import Workspace


def get_pipeline_run(run_id: str, *, workspace: Workspace | None = None) -> PipelineRun:
    """A pipeline run with its steps (status, cached, run id, outputs), loadable outputs."""
    return read_pipeline_run(workspace or Workspace.current(), run_id)
