"""What autolog writes into a run, and how `registry.register(name, run=...)` reads it back.

The model is stored as the artifact `model`: the folder its flavor saves (the same files, so
the same digest, that `registry.register` would store), with `model.json` beside it (flavor,
the types loading may construct, the signature) and `model.input_example` (a few training
rows). Registering from the run records that folder as a version without saving it again.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.names import MAX_PARAM_VALUE_LENGTH
from loopml.registry.flavors import flavor_for
from loopml.registry.signature import infer_signature

MODEL = "model"
MODEL_INFO = "model.json"
EXAMPLE = "model.input_example"
EXAMPLE_ROWS = 5
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-./ ]")


def metric_key(key: str) -> str:
    """A library's metric name as a loopml key ("ndcg@5" -> "ndcg_5")."""
    return _BAD_KEY_CHARS.sub("_", key)[:250] or "metric"


def param_text(value: Any) -> str:
    text = str(value)
    limit = MAX_PARAM_VALUE_LENGTH
    return text if len(text) <= limit else text[: limit - 3] + "..."


def log_params(run: Any, params: Mapping[str, Any]) -> None:
    clean = {metric_key(str(k)): param_text(v) for k, v in params.items()}
    run.log_params(clean)


def log_curves(run: Any, evals: Mapping[str, Mapping[str, Any]]) -> None:
    """Per-iteration evaluation results ({data: {metric: [values]}}) as metric steps."""
    for data_name, metrics in evals.items():
        for metric, values in metrics.items():
            key = metric_key(f"{data_name}-{metric}")
            for step, value in enumerate(values):
                number = value[0] if isinstance(value, tuple | list) else value  # (mean, std)
                run.log_metric(key, float(number), step=step)


def example_rows(data: Any) -> pd.DataFrame | None:
    """The first rows of training data as a frame (columns "0", "1", ... for an array)."""
    if data is None:
        return None
    if isinstance(data, pd.DataFrame):
        return data.head(EXAMPLE_ROWS).reset_index(drop=True)
    if hasattr(data, "tocsr"):  # a scipy sparse matrix
        data = data.tocsr()[:EXAMPLE_ROWS].toarray()
    array = np.asarray(data)
    if array.ndim != 2:
        return None
    return pd.DataFrame(array[:EXAMPLE_ROWS], columns=[str(i) for i in range(array.shape[1])])


def log_model(run: Any, model: Any, example: pd.DataFrame | None, predict_on: Any = None) -> None:
    """Save `model` in its safe flavor as the run's `model` artifact, with signature and
    example. `predict_on` is what the model's predict takes for the example (the raw rows
    when it was fitted on an array), to learn the output type."""
    flavor = flavor_for(model)  # no pickle: a model without a safe flavor is not logged
    signature = None
    if example is not None:
        signature = infer_signature(example, _predicted(model, example, predict_on))
    with tempfile.TemporaryDirectory(prefix="loopml-autolog-") as folder:
        trusted = flavor.save(model, Path(folder))
        run.log_artifact(MODEL, Path(folder))
    info = {"flavor": flavor.name, "trusted_types": trusted,
            "signature": None if signature is None else signature.to_json(),
            "class": f"{type(model).__module__}.{type(model).__qualname__}"}  # fmt: skip
    run.log_artifact(MODEL_INFO, json.dumps(info).encode())
    if example is not None:
        run.log_artifact(EXAMPLE, example)


def _predicted(model: Any, example: pd.DataFrame, predict_on: Any) -> Any:
    try:
        return model.predict(example if predict_on is None else predict_on)
    except Exception:  # a Booster wants its own matrix type: the output type stays unknown
        return None
