"""Monitoring: data and prediction drift, data quality, performance once labels arrive.

    report = loopml.monitoring.check("iris-api")
    report.dataset_drift, report.drift_share, report.columns["petal_width"]

The functions load on first use (nothing happens at import).
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "check": "api",
    "check_with_data": "api",
    "history": "api",
    "ColumnRule": "compare",
    "render_html": "html",
}


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'loopml.monitoring' has no attribute {name!r}")
    return getattr(importlib.import_module(f"loopml.monitoring.{_API[name]}"), name)


def __dir__() -> list[str]:
    return sorted(_API)
