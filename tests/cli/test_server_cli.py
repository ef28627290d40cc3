"""`loopml server` as a team uses it: first start prints an admin token; a client with
LOOPML_SERVER_URI and LOOPML_TOKEN logs runs to it with the ordinary Python API."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from loopml.workspace import Workspace
from tests.cli.test_cli import cli
from tests.ports import free_ports


def _start(folder: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_ports(1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "loopml", "server", "--port", str(port), *args], cwd=folder,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health/ready").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the server did not start: {process.stderr.read()}")


def test_first_start_prints_an_admin_token_and_clients_log_through_it(tmp_path: Path) -> None:
    server_dir, client_dir = tmp_path / "server", tmp_path / "laptop"
    for folder in (server_dir, client_dir):
        folder.mkdir()
        assert cli("init", cwd=folder).returncode == 0
    process, url = _start(server_dir)
    try:
        token = process.stdout.readline().strip()
        assert token.startswith("lml_")
        script = textwrap.dedent("""
            import loopml
            with loopml.start_run(project="team", name="remote") as run:
                run.log_params({"C": 0.5})
                run.log_artifact("weights", {"w": [1, 2, 3]})
                for step in range(20):
                    run.log_metric("loss", 1 / (step + 1), step=step)
            print(run.id)
        """)  # fmt: skip
        env = {**os.environ, "LOOPML_SERVER_URI": url, "LOOPML_TOKEN": token}
        done = subprocess.run([sys.executable, "-c", script], cwd=client_dir, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        run_id = done.stdout.strip().splitlines()[-1]
        listed = subprocess.run([sys.executable, "-m", "loopml", "runs", "ls", "--json"],
                                cwd=client_dir, env=env, capture_output=True, text=True,
                                timeout=120)  # fmt: skip
        assert run_id in listed.stdout
        no_token = {k: v for k, v in env.items() if k != "LOOPML_TOKEN"}
        command = [sys.executable, "-m", "loopml", "runs", "ls"]
        refused = subprocess.run(command, cwd=client_dir, env=no_token, capture_output=True,
                                 text=True, timeout=120)  # fmt: skip
        assert refused.returncode == 1 and "authentication required" in refused.stderr
    finally:
        process.terminate()
        process.wait(timeout=30)
    stored = Workspace.open(server_dir)
    run = stored.store.runs.get(run_id)
    assert run.status == "FINISHED" and run.params == {"C": "0.5"}
    assert len(stored.store.runs.metric_history(run_id, "loss")) == 20
    ref = stored.store.runs.get_artifact(run_id, "weights")
    assert stored.artifacts.has(ref.digest)  # the bytes went to the server's artifact store
    assert Workspace.open(client_dir).store.runs.search() == []  # nothing went to the laptop's


def test_tokens_are_created_listed_and_revoked(tmp_path: Path) -> None:
    assert cli("init", cwd=tmp_path).returncode == 0
    created = cli("server", "token", "create", "--user", "ci", "--role", "editor",
                  "--project", "nightly", cwd=tmp_path)  # fmt: skip
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    principal = Workspace.open(tmp_path).store.auth.authenticate(token)
    assert principal.user == "ci" and principal.grants == {"nightly": "editor"}
    listed = cli("server", "token", "ls", "--json", cwd=tmp_path)
    assert token.split("_")[1] in listed.stdout and token.split("_")[2] not in listed.stdout
    assert cli("server", "token", "revoke", token.split("_")[1], cwd=tmp_path).returncode == 0
    bad_role = cli("server", "token", "create", "--user", "x", "--role", "god", cwd=tmp_path)
    assert bad_role.returncode == 1 and "unknown role 'god'" in bad_role.stderr


def test_no_auth_is_refused_off_loopback(tmp_path: Path) -> None:
    assert cli("init", cwd=tmp_path).returncode == 0
    refused = cli("server", "--host", "0.0.0.0", "--no-auth", cwd=tmp_path)
    assert refused.returncode == 1 and "without authentication" in refused.stderr
