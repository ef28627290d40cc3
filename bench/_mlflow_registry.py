"""MLflow's side of bench/registry.py: a worker under the peers venv, driven over a pipe.

    bench/.venv-peers/bin/python bench/_mlflow_registry.py --workdir DIR

Setup (untimed): the forest is logged twice with `mlflow.sklearn.log_model` to one SQLite
tracking store (`sqlite:///DIR/mlflow.db`, artifacts in DIR/artifacts), registered as `forest`
(MLflow's default serialization) and `forest-cloudpickle`, with the alias `champion` on each.
The worker then prints one JSON line describing them and answers commands, one a line, each
with `{"s": seconds}` timed here (the pipe is not in the timing):

    load FORMAT     mlflow.sklearn.load_model("models:/<model>@champion")
    bare FORMAT     loading that model's file alone, as MLflow does for its format
    lookup          MlflowClient().get_model_version_by_alias(<model>, "champion")
    quit

so that the driver can interleave them with loopml's loads and both see the same machine.
MLflow 3.17 refuses to deserialize any sklearn model, skops included, unless
MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true; it is set here, for this process and its children.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"

import mlflow
import mlflow.sklearn
import sklearn
import skops
import skops.io
from mlflow import MlflowClient
from mlflow.models import Model

import _registry_data as data

NAMES = {"default": data.MODEL, "cloudpickle": f"{data.MODEL}-cloudpickle"}


def uri(fmt: str) -> str:
    return f"models:/{NAMES[fmt]}@{data.ALIAS}"


def log_forest(forest: Any, fmt: str, experiment: str) -> str:
    """Log and register the forest; point `champion` at it. Returns the logged model's URI."""
    options: dict[str, Any] = {}
    if fmt != "default":
        options["serialization_format"] = fmt
    else:  # MLflow's default is skops outside Databricks; it needs the forest's tree type
        blob = skops.io.dumps(forest)
        options["skops_trusted_types"] = skops.io.get_untrusted_types(data=blob)
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(
            forest,
            name=data.MODEL,
            registered_model_name=NAMES[fmt],
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],  # skip the inference
            **options,
        )
    client = MlflowClient()
    client.set_registered_model_alias(NAMES[fmt], data.ALIAS, info.registered_model_version)
    return info.model_uri


def stored_model(model_uri: str) -> tuple[dict[str, Any], Path]:
    """The sklearn flavor's configuration MLflow recorded, and a local copy of the model file."""
    local = Path(mlflow.artifacts.download_artifacts(model_uri))
    conf = Model.load(local / "MLmodel").flavors["sklearn"]
    return conf, local / conf["pickled_model"]


def bare_load(conf: dict[str, Any], path: Path) -> Callable[[], object]:
    """Loading the model file alone, as MLflow does it for that format."""
    if conf["serialization_format"] == "skops":
        trusted = conf.get("skops_trusted_types")
        return lambda: skops.io.load(path, trusted=trusted)
    import cloudpickle

    def load() -> object:
        with open(path, "rb") as file:
            return cloudpickle.load(file)

    return load


def cold_command(tracking_uri: str, fmt: str) -> list[str]:
    load = (
        "import mlflow, mlflow.sklearn\n"
        f"mlflow.set_tracking_uri({tracking_uri!r})\n"
        f"model = mlflow.sklearn.load_model({uri(fmt)!r})"
    )
    return [sys.executable, "-c", data.cold_script(load)]


def setup(workdir: Path) -> tuple[dict[str, Any], dict[str, Callable[[], object]]]:
    workdir.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment("registry", artifact_location=str(workdir / "artifacts"))
    forest = data.make_forest()
    info: dict[str, Any] = {
        "versions": {"mlflow": mlflow.__version__, "sklearn": sklearn.__version__,
                     "skops": skops.__version__, "python": sys.version.split()[0]},
        "trained_fingerprint": data.fingerprint(forest),
        "env": {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"},
    }  # fmt: skip
    actions: dict[str, Callable[[], object]] = {}
    client = MlflowClient()
    for fmt in NAMES:
        conf, path = stored_model(log_forest(forest, fmt, experiment))
        info[fmt] = {
            "format": conf["serialization_format"],
            "file_size": path.stat().st_size,
            "fingerprint": data.fingerprint(mlflow.sklearn.load_model(uri(fmt))),
            "cold_command": cold_command(tracking_uri, fmt),
        }
        actions[f"load {fmt}"] = lambda fmt=fmt: mlflow.sklearn.load_model(uri(fmt))
        actions[f"bare {fmt}"] = bare_load(conf, path)
    actions["lookup"] = lambda: client.get_model_version_by_alias(data.MODEL, data.ALIAS)
    return info, actions


def serve(actions: dict[str, Callable[[], object]], replies: Any) -> None:
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            return
        start = time.perf_counter()
        actions[command]()
        seconds = time.perf_counter() - start
        replies.write(json.dumps({"s": seconds}) + "\n")
        replies.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    replies, sys.stdout = sys.stdout, sys.stderr  # MLflow's own prints go to stderr
    info, actions = setup(args.workdir)
    replies.write(json.dumps(info) + "\n")
    replies.flush()
    serve(actions, replies)


if __name__ == "__main__":
    main()
