"""MLflow's side of bench/serving.py: log the benchmark models, write their URIs as JSON.

    bench/.venv-peers/bin/python bench/_mlflow_serving.py --workdir DIR --out FILE

Runs under the peers venv. The models go to a SQLite tracking store in DIR
(`sqlite:///DIR/mlflow.db`, artifacts in DIR/artifacts); serving.py then runs
`mlflow models serve -m URI --env-manager local` with MLFLOW_TRACKING_URI set to that store.
The scikit-learn model is stored with skops (MLflow's default), the XGBoost model in
XGBoost's own format.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

import _serving_models as models


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore")

    import mlflow
    import mlflow.sklearn
    import mlflow.xgboost
    import sklearn
    import xgboost

    tracking = f"sqlite:///{args.workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    experiment = mlflow.create_experiment("serving", str(args.workdir / "artifacts"))
    x, _ = models.features()
    example = x.head(5)
    out: dict[str, Any] = {
        "tracking_uri": tracking,
        "versions": {
            "mlflow": mlflow.__version__,
            "sklearn": sklearn.__version__,
            "xgboost": xgboost.__version__,
        },
        "models": {},
    }
    for kind in models.MODELS:
        model = models.train(kind)
        flavor = mlflow.xgboost if kind == "xgboost" else mlflow.sklearn
        with mlflow.start_run(experiment_id=experiment):
            info = flavor.log_model(model, name=kind, input_example=example)
        loaded = mlflow.pyfunc.load_model(info.model_uri)
        predictions = [int(v) for v in loaded.predict(x)]
        out["models"][kind] = {"uri": info.model_uri, "predictions": predictions}
    args.out.write_text(json.dumps(out))


if __name__ == "__main__":
    main()
