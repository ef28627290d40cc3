"""loopml: MLOps that closes the loop.

    import loopml
    with loopml.start_run(project="iris", name="baseline") as run:
        run.log_params({"C": 1.0})
        run.log_metric("acc", 0.93)

Importing loopml does no work: names below load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "start_run": "loopml.tracking.api",
    "current_run": "loopml.tracking.api",
    "get_run": "loopml.tracking.api",
    "search_runs": "loopml.tracking.api",
    "delete_run": "loopml.tracking.api",
    "restore_run": "loopml.tracking.api",
    "get_metric_history": "loopml.tracking.api",
    "load_artifact": "loopml.tracking.api",
    "download_artifact": "loopml.tracking.api",
    "ActiveRun": "loopml.tracking.run",
    "Workspace": "loopml.workspace",
    "Run": "loopml.core.entities",
    "RunStatus": "loopml.core.entities",
    "Metric": "loopml.core.entities",
    "ArtifactRef": "loopml.core.entities",
    "LoopmlError": "loopml.core.errors",
    "InvalidArgumentError": "loopml.core.errors",
    "NotFoundError": "loopml.core.errors",
    "ConflictError": "loopml.core.errors",
    "IntegrityError": "loopml.core.errors",
    "WorkspaceNotFoundError": "loopml.core.errors",
    "step": "loopml.pipelines.step",
    "pipeline": "loopml.pipelines.pipeline",
    "get_pipeline_run": "loopml.pipelines.api",
    "lineage": "loopml.pipelines.lineage",
    "PipelineRun": "loopml.core.pipelines",
    "StepRun": "loopml.core.pipelines",
    "StepStatus": "loopml.core.pipelines",
    "tune": "loopml.pipelines.tune",
    "autolog": "loopml.registry.autolog",
}

_MODULES = {
    "datasets": "loopml.data.api",
    "registry": "loopml.registry",
    "deployments": "loopml.serving.deployments",
    "monitoring": "loopml.monitoring",
}

__all__ = sorted([*_EXPORTS, "__version__", *_MODULES, "init"])

if TYPE_CHECKING:
    from loopml import monitoring, registry
    from loopml.core.entities import ArtifactRef, Metric, Run, RunStatus
    from loopml.core.errors import (
        ConflictError,
        IntegrityError,
        InvalidArgumentError,
        LoopmlError,
        NotFoundError,
        WorkspaceNotFoundError,
    )
    from loopml.core.pipelines import PipelineRun, StepRun, StepStatus
    from loopml.data import api as datasets
    from loopml.pipelines.api import get_pipeline_run
    from loopml.pipelines.lineage import lineage
    from loopml.pipelines.pipeline import pipeline
    from loopml.pipelines.step import step
    from loopml.pipelines.tune import tune
    from loopml.registry.autolog import autolog
    from loopml.serving import deployments
    from loopml.tracking.api import (
        current_run,
        delete_run,
        download_artifact,
        get_metric_history,
        get_run,
        load_artifact,
        restore_run,
        search_runs,
        start_run,
    )
    from loopml.tracking.run import ActiveRun
    from loopml.workspace import Workspace


def init(path: str | None = None) -> Any:
    """Create a workspace (`.loopml/`) in `path` or the current folder and open it."""
    from loopml.workspace import Workspace

    return Workspace.init(path)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'loopml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
