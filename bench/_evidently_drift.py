"""Evidently's side of bench/drift.py; runs under the peers venv (bench/.venv-peers).

    bench/.venv-peers/bin/python bench/_evidently_drift.py --data DIR --out FILE [--repeats N]

DIR holds reference.parquet, current.parquet and spec.json (the numeric and categorical
column names, the tests and thresholds), written once by bench/drift.py. Evidently is given
the same tests loopml picks: `DataDriftPreset(num_method="wasserstein",
cat_method="jensenshannon", num_threshold=0.1, cat_threshold=0.1)`. Timed apart: the import,
reading the Parquet files into pandas, `Dataset.from_pandas` for both frames and
`Report.run`; the drift computation is the last two. Writes JSON with the timings, each
column's statistic and the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

started = time.perf_counter()
import evidently  # noqa: E402
import pandas as pd  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

IMPORT_S = time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    data = Path(args.data)
    spec = json.loads((data / "spec.json").read_text())
    numeric, categorical = spec["numeric"], spec["categorical"]

    start = time.perf_counter()
    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / "current.parquet")
    read_s = time.perf_counter() - start

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    preset = DataDriftPreset(
        num_method=spec["numeric_test"],
        cat_method=spec["categorical_test"],
        num_threshold=spec["numeric_threshold"],
        cat_threshold=spec["categorical_threshold"],
    )
    runs = []
    for _ in range(max(1, args.repeats)):
        start = time.perf_counter()
        ref_ds = Dataset.from_pandas(reference, data_definition=definition)
        cur_ds = Dataset.from_pandas(current, data_definition=definition)
        datasets_s = time.perf_counter() - start
        snapshot = Report([preset]).run(cur_ds, ref_ds)
        total_s = time.perf_counter() - start
        runs.append({"datasets_s": datasets_s, "run_s": total_s - datasets_s, "total_s": total_s})

    columns, counted = {}, None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            value = float(metric["value"])
            columns[config["column"]] = {
                "method": config["method"],
                "statistic": value,
                "threshold": config["threshold"],
                "drifted": value >= config["threshold"],
            }
        elif config["type"].endswith(":DriftedColumnsCount"):
            counted = metric["value"]
    result = {
        "versions": {
            "evidently": evidently.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
        },
        "import_s": IMPORT_S,
        "read_s": read_s,
        "runs": runs,
        "columns": columns,
        "drifted_count": counted,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
