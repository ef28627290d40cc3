"""`loopml demo`: a complete, offline tour on a dataset that scikit-learn ships.

It versions the wine dataset, trains several classifiers on it, tracks each run (params, a
learning curve, metrics, a confusion matrix, test predictions), then searches and compares them.
Later stages of the loop (registry, serving, monitoring, retraining) join it as they land.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from loopml.cli.output import format_value
from loopml.cli.runs import comparison_table

PROJECT = "wine-demo"
SEED = 7


def _candidates() -> list[tuple[str, dict[str, Any], Any]]:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def logistic(c: float) -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))

    return [
        ("logreg-C0.01", {"model": "logistic_regression", "C": 0.01}, logistic(0.01)),
        ("logreg-C1", {"model": "logistic_regression", "C": 1.0}, logistic(1.0)),
        (
            "forest-50",
            {"model": "random_forest", "n_estimators": 50, "max_depth": 4},
            RandomForestClassifier(n_estimators=50, max_depth=4, random_state=SEED),
        ),
        (
            "boosting-60",
            {"model": "gradient_boosting", "n_estimators": 60, "learning_rate": 0.1},
            GradientBoostingClassifier(n_estimators=60, learning_rate=0.1, random_state=SEED),
        ),
    ]


def _train(loopml: Any, ws: Any, data: tuple, name: str, params: dict, model: Any) -> str:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss

    x_train, x_test, y_train, y_test = data
    with loopml.start_run(project=PROJECT, name=name, tags={"demo": "true"}, workspace=ws) as run:
        run.log_params(params)
        run.use_dataset("wine")
        started = time.perf_counter()
        model.fit(x_train, y_train)
        run.log_metric("train_seconds", time.perf_counter() - started)
        if hasattr(model, "staged_predict_proba"):  # a learning curve for boosted trees
            for step, proba in enumerate(model.staged_predict_proba(x_test)):
                run.log_metric("test_log_loss", log_loss(y_test, proba), step=step)
        predicted = model.predict(x_test)
        run.log_metrics(
            {
                "accuracy": accuracy_score(y_test, predicted),
                "f1_macro": f1_score(y_test, predicted, average="macro"),
            }
        )
        run.log_artifact("confusion_matrix", confusion_matrix(y_test, predicted))
        frame = x_test.assign(label=y_test, predicted=predicted)
        run.log_artifact("test_predictions", frame)
        return run.id


def run_demo(workspace_dir: Path | None, console: Console | None = None) -> Path:
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    import loopml

    out = console or Console(highlight=False)
    folder = Path(workspace_dir) if workspace_dir else Path(tempfile.mkdtemp(prefix="loopml-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    ws = loopml.Workspace.init(folder)
    out.print(f"[bold]loopml demo[/] in workspace [cyan]{folder.resolve()}[/]")

    features, labels = load_wine(return_X_y=True, as_frame=True)
    csv = folder / "data" / "wine.csv"
    csv.parent.mkdir(exist_ok=True)
    features.assign(target=labels).to_csv(csv, index=False)
    version = loopml.datasets.add("wine", csv, workspace=ws)
    out.print(f"  versioned dataset [bold]wine@{version.version}[/] digest {version.digest[:12]}")
    data = train_test_split(features, labels, test_size=0.3, random_state=SEED, stratify=labels)
    with out.status("training") as status:
        for name, params, model in _candidates():
            status.update(f"training {name}")
            run_id = _train(loopml, ws, data, name, params, model)
            out.print(f"  tracked [bold]{name}[/] as run {run_id}")

    ranked = loopml.search_runs(
        project=PROJECT,
        filter="metrics.accuracy > 0.5",
        order_by=["metrics.accuracy DESC"],
        workspace=ws,
    )
    out.print()
    out.print(comparison_table(list(ranked)))
    best = ranked[0]
    out.print(
        f"\nbest: [bold green]{best.name}[/] accuracy {format_value(best.metrics['accuracy'])} "
        f"(run {best.id})"
    )
    out.print(f"look closer: cd {folder.resolve()} && loopml runs show {best.id}")
    ws.close()
    return folder
