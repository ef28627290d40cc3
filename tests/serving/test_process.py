"""`loopml serve` as users run it: a separate process, stopped with SIGTERM; and
`loopml deployments` / `loopml predict` on the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

import loopml
from tests.cli.test_cli import cli
from tests.serving import models
from tests.serving.conftest import FEATURES, free_port

pytestmark = pytest.mark.slow


def _serve(cwd: Path, deployment: str, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    process = subprocess.Popen(
        [sys.executable, "-m", "loopml", "serve", deployment, "--port", str(port), *extra],
        cwd=cwd, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("loopml serve never became ready")


def test_sigterm_finishes_in_flight_requests_then_exits(workspace, tmp_path) -> None:
    loopml.registry.register("slow", models.Slow(1.5), trust=True, workspace=workspace)
    loopml.deployments.create("slow", "slow/1", workspace=workspace)
    process, url = _serve(tmp_path, "slow", "--trust")
    answers: list[httpx.Response] = []
    request = threading.Thread(target=lambda: answers.append(
        httpx.post(f"{url}/predict", json={"instances": [{"x": 1}]}, timeout=30)))  # fmt: skip
    try:
        request.start()
        time.sleep(0.5)  # the request is now inside the model
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises(httpx.TransportError):  # no new connections while draining
            httpx.get(f"{url}/v2/health/ready", timeout=1).raise_for_status()
        request.join(timeout=30)
        # uvicorn re-raises the signal once it has shut down cleanly
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        process.kill()
    assert answers and answers[0].status_code == 200
    logged = workspace.store.predictions.query(deployment="slow")
    assert [p.id for p in logged] == answers[0].json()["prediction_ids"]


def test_refuses_a_public_address_without_a_token(workspace, tmp_path) -> None:
    loopml.registry.register("c", models.Constant(1), trust=True, workspace=workspace)
    loopml.deployments.create("c", "c/1", workspace=workspace)
    done = cli("serve", "c", "--host", "0.0.0.0", "--port", str(free_port()), cwd=tmp_path)
    assert done.returncode == 1
    assert "without authentication" in done.stderr and "LOOPML_SERVE_TOKEN" in done.stderr


def test_deployments_cli(iris_workspace, tmp_path) -> None:
    loopml.registry.register("iris", _model(), workspace=iris_workspace)
    done = cli("deployments", "canary", "iris-api", "iris/2", "--traffic", "0.25",
               "--reason", "try v2", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "canary" in done.stdout and "25%" in done.stdout
    shown = json.loads(cli("deployments", "show", "iris-api", "--json", cwd=tmp_path).stdout)
    assert shown["deployment"]["revision"] == 2
    assert shown["revisions"][-1]["reason"] == "try v2"
    listed = json.loads(cli("deployments", "ls", "--json", cwd=tmp_path).stdout)
    assert [d["name"] for d in listed["deployments"]] == ["iris-api"]
    assert cli("deployments", "promote", "iris-api", cwd=tmp_path).returncode == 0
    assert cli("deployments", "rollback", "iris-api", cwd=tmp_path).returncode == 0
    bad = cli("deployments", "promote", "nope", cwd=tmp_path)
    assert bad.returncode == 1 and "deployment 'nope' not found" in bad.stderr


def _model():
    from sklearn.tree import DecisionTreeClassifier

    from tests.serving.conftest import iris_frame

    frame = iris_frame()
    return DecisionTreeClassifier(max_depth=2).fit(frame.drop(columns=["target"]), frame["target"])


def test_batch_predict_cli(iris_workspace, tmp_path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    FEATURES.iloc[:100].to_parquet(folder / "a.parquet")
    FEATURES.iloc[100:].to_csv(folder / "b.csv", index=False)
    out = tmp_path / "out" / "predictions.parquet"
    done = cli("predict", "iris@champion", "--input", str(folder), "--output", str(out),
               "--chunk-rows", "32", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "150 predictions from 2 file(s) by iris/1" in done.stdout
    result = pd.read_parquet(out)
    assert len(result) == 150 and result["prediction_id"].is_unique
    assert set(result["model_version"]) == {1} and set(result["prediction"]) <= {0, 1, 2}
    bad = tmp_path / "bad.csv"
    bad.write_text("sepal_length\n1.0\n")
    failed = cli("predict", "iris@champion", "--input", str(bad), "--output",
                 str(tmp_path / "x.parquet"), cwd=tmp_path)  # fmt: skip
    assert failed.returncode == 1 and "missing column" in failed.stderr
    assert not (tmp_path / "x.parquet").exists()
    assert not list(tmp_path.glob(".x.parquet.*"))  # no partial file left behind


def test_serve_says_where_it_listens_only_once_it_does(workspace, tmp_path) -> None:
    loopml.registry.register("c", models.Constant(1), trust=True, workspace=workspace)
    loopml.deployments.create("c", "c/1", workspace=workspace)
    missing = cli("serve", "nope", "--port", str(free_port()), cwd=tmp_path)
    assert missing.returncode == 1 and "serving" not in missing.stdout + missing.stderr
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        root = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # the model's module
        taken = cli("serve", "c", "--trust", "--port", str(busy.getsockname()[1]),
                    cwd=tmp_path, env=root)  # fmt: skip
    assert taken.returncode != 0 and "serving c on" not in taken.stdout + taken.stderr
    assert "address already in use" in taken.stderr.lower()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])  # the test model's module
    command = [sys.executable, "-m", "loopml", "serve", "c", "--trust", "--port", str(port)]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # printed once bound: the server answers right away
        assert f"serving c on http://127.0.0.1:{port}" in line
        assert httpx.get(f"http://127.0.0.1:{port}/v2/health/live").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
