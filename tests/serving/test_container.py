"""Issue 16.1: `loopml build` writes a self-contained container build context for a deployment.

The slow tests install a fresh virtual environment from the context alone (its pinned
requirements and the loopml wheel in it) and run the context's entrypoint, on the embedded
workspace and then on the team's store (where its predictions must land); with a container
engine whose daemon answers, they also build and run the image.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.core.errors import IntegrityError, InvalidArgumentError, NotFoundError
from loopml.serving import engines
from loopml.serving.container import write_context
from loopml.serving.export import open_fresh
from loopml.serving.requirements import parse_pins
from loopml.serving.wheel import build_wheel
from loopml.workspace import Workspace
from tests.ports import free_ports
from tests.serving.conftest import FEATURES, iris_frame

ROWS = FEATURES.head(6)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wheel of this loopml for the module (building it is the slow part of a context)."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def trained(workspace: Workspace) -> Workspace:
    """iris/1..3 registered from a run (so its environment is recorded); the deployment
    serves iris/3 (champion) with iris/1 as a canary, and iris/2 is not exported."""
    target = iris_frame()["target"]
    with loopml.start_run(project="iris", workspace=workspace) as run:
        for c in (1.0, 0.01, 0.1):
            model = LogisticRegression(C=c, max_iter=1000).fit(FEATURES, target)
            loopml.registry.register("iris", model, run=run, input_example=FEATURES.head(),
                                     workspace=workspace)  # fmt: skip
    loopml.registry.set_alias("iris", "champion", 3, workspace=workspace)
    loopml.deployments.create("iris-api", "iris@champion", workspace=workspace)
    loopml.deployments.set_canary("iris-api", "iris/1", traffic=0.5, workspace=workspace)
    return workspace


def _context(ws: Workspace, tmp_path: Path, wheel: Path, **options: object):  # type: ignore[no-untyped-def]
    return write_context(ws, "iris-api", tmp_path / "ctx", wheel=wheel, **options)


def test_dockerfile_runs_non_root_with_healthcheck_on_readiness(trained, tmp_path, wheel):
    context = _context(trained, tmp_path, wheel)
    text = (context.folder / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert users[-1].split(":")[0].isdigit()  # numeric: runAsNonRoot can verify it
    assert re.search(r"^HEALTHCHECK .*\n?.*/v2/health/ready", text, re.M)
    assert re.search(r"^ENTRYPOINT \[\"/usr/local/bin/loopml-entrypoint\"\]$", text, re.M)
    assert "pip install --no-compile -r /tmp/build/requirements.txt" in text
    assert f"wheels/{context.wheel.name}" in text and context.wheel.is_file()
    assert (context.folder / "entrypoint.sh").stat().st_mode & 0o111


def test_requirements_are_pinned_to_the_training_runs_environment(trained, tmp_path, wheel):
    context = _context(trained, tmp_path, wheel)
    lines = [
        line
        for line in (context.folder / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines and all(re.fullmatch(r"[a-z0-9-]+==[^\s=]+", line) for line in lines), lines
    pins = parse_pins(lines)
    version = trained.store.models.get_version("iris", 3)
    run = trained.store.runs.get(version.run_id)
    recorded = parse_pins(trained.artifacts.get_bytes(run.env_digest).decode().splitlines())
    for name in ("scikit-learn", "numpy", "pandas", "skops", "fastapi", "uvicorn"):
        assert pins[name] == recorded[name], name
    assert "loopml" not in pins  # it comes as the wheel
    assert "pytest" not in pins  # the training environment's other packages stay out


def test_the_exported_workspace_holds_only_the_deployment_and_predicts_the_same(
    trained, tmp_path, wheel
):
    context = _context(trained, tmp_path, wheel)
    exported = open_fresh(context.folder / "workspace")
    try:
        assert [d.name for d in exported.store.deployments.list()] == ["iris-api"]
        served = exported.store.deployments.get("iris-api")
        original = trained.store.deployments.get("iris-api")
        assert [(r.model, r.version, r.mode, r.weight) for r in served.routes] == [
            (r.model, r.version, r.mode, r.weight) for r in original.routes
        ]
        assert [v.version for v in exported.store.models.list_versions("iris")] == [1, 3]
        assert exported.store.models.get_alias("iris", "champion").version == 3
        with pytest.raises(NotFoundError):
            exported.store.runs.get(trained.store.models.get_version("iris", 3).run_id)
        for ref in ("iris/1", "iris/3"):
            mine = loopml.registry.load(ref, workspace=exported).predict(ROWS)
            theirs = loopml.registry.load(ref, workspace=trained).predict(ROWS)
            assert list(mine) == list(theirs)
            assert exported.store.models.get_version(*ref.split("/")).digest == (
                trained.store.models.get_version(*ref.split("/")).digest
            )
    finally:
        exported.close()


def test_a_tampered_model_file_is_refused(trained, tmp_path, wheel):
    version = trained.store.models.get_version("iris", 3)
    artifacts = trained.root / ".loopml" / "artifacts"
    manifest = json.loads(trained.artifacts.get_bytes(version.digest).decode())
    digest = next(iter(manifest["files"].values()))["digest"]
    blob = artifacts / "blobs" / digest[:2] / digest[2:]
    blob.chmod(0o600)
    blob.write_bytes(blob.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError):
        _context(trained, tmp_path, wheel)
    assert not (tmp_path / "ctx").exists()  # nothing half-written is left


def test_output_that_is_not_a_context_is_refused_and_a_context_is_replaced(
    trained, tmp_path, wheel
):
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidArgumentError, match="not a loopml build context"):
        _context(trained, tmp_path, wheel)
    assert (tmp_path / "ctx" / "notes.txt").read_text() == "mine"
    shutil.rmtree(tmp_path / "ctx")
    _context(trained, tmp_path, wheel)
    loopml.deployments.promote("iris-api", workspace=trained)
    again = _context(trained, tmp_path, wheel)
    assert again.summary()["revision"] == 3 and again.tag == "loopml-iris-api:r3"


def test_pickle_models_need_trust(workspace, tmp_path, wheel):
    from tests.serving import models

    loopml.registry.register("c", models.Constant(1), trust=True, workspace=workspace)
    loopml.deployments.create("c", "c/1", workspace=workspace)
    with pytest.raises(InvalidArgumentError, match="--trust"):
        write_context(workspace, "c", tmp_path / "ctx", wheel=wheel)
    context = write_context(workspace, "c", tmp_path / "ctx", wheel=wheel, trust=True)
    assert "LOOPML_TRUST_PICKLE=1" in (context.folder / "Dockerfile").read_text()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return subprocess.run([sys.executable, "-m", "loopml", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_bad_deployment_name_is_one_line(workspace, tmp_path):
    done = _cli("build", "nope", "--engine", "none", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert "nope" in done.stderr and "Traceback" not in done.stderr
    done = _cli("build", "nope", "--engine", "rocket", cwd=tmp_path)
    assert done.returncode == 1 and "--engine" in done.stderr, done.stderr
    assert not (tmp_path / "build").exists()


def test_without_an_engine_the_context_is_written_and_how_to_build_it_printed(trained, tmp_path):
    done = _cli("build", "iris-api", "--engine", "none", "--tag", "team/iris:7", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "docker build -t team/iris:7" in done.stdout
    assert json.loads((tmp_path / "build" / "iris-api" / "build.json").read_text())["image"] == (
        "team/iris:7"
    )
    done = _cli("build", "iris-api", "--engine", "none", "--tag", "Bad Tag", cwd=tmp_path)
    assert done.returncode == 1 and "image tag" in done.stderr


# -- installed from the context alone -------------------------------------------------------
def _install(context: Path, venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = json.loads((context / "build.json").read_text())["install"]
    assert install[:2] == ["pip", "install"]
    done = subprocess.run([str(python), "-m", *install], cwd=context, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert check.returncode == 0, check.stdout
    return venv / "bin"


def _wait_ready(url: str, process: subprocess.Popen[str] | None, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"the server exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"{url} was not ready within {limit_s:.0f} s")


def _check_predictions(url: str, token: str, trained: Workspace) -> list[str]:
    """Predictions equal the models' own; returns their ids."""
    instances = json.loads(ROWS.to_json(orient="records"))
    own = {ref: list(loopml.registry.load(ref, workspace=trained).predict(ROWS))
           for ref in ("iris/1", "iris/3")}  # fmt: skip
    seen, ids = set(), []
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.post("/predict", json={"instances": instances}).status_code == 401
        for _ in range(12):  # both routes answer (a canary at 0.5): each as its own model
            answer = client.post("/predict", json={"instances": instances},
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert answer.status_code == 200, answer.text
            body = answer.json()
            ref = f"{body['model']}/{body['model_version']}"
            assert body["predictions"] == own[ref]
            seen.add(ref)
            ids += body["prediction_ids"]
    assert seen <= {"iris/1", "iris/3"} and seen
    return ids


@pytest.mark.slow
def test_a_venv_installed_from_the_context_alone_serves_the_deployment(trained, tmp_path):
    out = tmp_path / "out"
    done = _cli("build", "iris-api", "--engine", "none", "--output", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    context = tmp_path / "elsewhere" / "ctx"  # moved: nothing may point back at the repo
    shutil.move(out, context)
    bin_dir = _install(context, tmp_path / "venv")
    port = free_ports(1)[0]
    token = secrets.token_urlsafe(32)
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "LOOPML_HOST": "127.0.0.1",
            "LOOPML_PORT": str(port)}  # fmt: skip
    entry = [
        str(context / e) for e in json.loads((context / "build.json").read_text())["entrypoint"]
    ]
    refused = subprocess.run(entry, cwd=context, env=base, capture_output=True, text=True,
                             timeout=120)  # fmt: skip
    assert refused.returncode == 1 and "LOOPML_SERVE_TOKEN" in refused.stderr
    own = _serve(entry, {**base, "LOOPML_SERVE_TOKEN": token}, port, token, trained)
    embedded = open_fresh(context / "workspace")
    try:  # logged in the image's own workspace, not the team's
        assert all(embedded.store.predictions.get(i).deployment == "iris-api" for i in own)
        with pytest.raises(NotFoundError):
            trained.store.predictions.get(own[0])
    finally:
        embedded.close()
    team = {"LOOPML_STORE_URI": trained.config.store_uri,
            "LOOPML_ARTIFACT_URI": trained.config.artifact_uri}  # fmt: skip
    shared = _serve(entry, {**base, **team, "LOOPML_SERVE_TOKEN": token}, port, token, trained)
    assert all(trained.store.predictions.get(i).deployment == "iris-api" for i in shared)

    # Installed from the wheel, loopml packs its own files again into an equivalent wheel.
    done = subprocess.run([str(bin_dir / "python"), "-c", REPACK, str(tmp_path / "again")],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _members(Path(done.stdout.strip())) == _members(next((context / "wheels").glob("*")))


REPACK = "import sys, pathlib; from loopml.serving.wheel import build_wheel; " \
    "print(build_wheel(pathlib.Path(sys.argv[1])))"  # fmt: skip


def _members(wheel: Path) -> set[str]:
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if not n.endswith(("RECORD", ".pyc"))}


def _serve(entry: list[str], env: dict[str, str], port: int, token: str, trained: Workspace
           ) -> list[str]:  # fmt: skip
    """Run the entrypoint until its predictions are checked; stop it (SIGTERM: queued
    predictions are written); return their ids."""
    process = subprocess.Popen(entry, cwd="/", env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process)
        assert httpx.get(f"{url}/v2/health/live", timeout=5).status_code == 200
        return _check_predictions(url, token, trained)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.mark.slow
def test_the_image_builds_and_serves_where_an_engine_answers(trained, tmp_path):
    engine, probes = engines.choose("auto")
    if engine is None:  # optional, even in CI: an engine is not part of the project's machine
        pytest.skip(f"no container engine answers: {'; '.join(map(str, probes))}")
    tag = f"loopml-test-{secrets.token_hex(4)}:1"
    context = write_context(trained, "iris-api", tmp_path / "ctx", tag=tag)
    engines.build(engine, context.folder, tag, timeout=1500)
    port = free_ports(1)[0]
    token = secrets.token_urlsafe(32)
    name = f"loopml-test-{secrets.token_hex(4)}"
    assert engine.path is not None
    subprocess.run([engine.path, "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
                    "-e", f"LOOPML_SERVE_TOKEN={token}", tag], check=True, timeout=120)  # fmt: skip
    try:
        user = subprocess.run([engine.path, "exec", name, "id", "-u"], capture_output=True,
                              text=True, timeout=60, check=True)  # fmt: skip
        assert user.stdout.strip() == "10001"
        _wait_ready(f"http://127.0.0.1:{port}", None)
        _check_predictions(f"http://127.0.0.1:{port}", token, trained)
    finally:
        subprocess.run([engine.path, "rm", "-f", name], capture_output=True, timeout=120)
        subprocess.run([engine.path, "rmi", "-f", tag], capture_output=True, timeout=120)


def test_engines_are_used_only_when_there(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker, no podman
    chosen, probes = engines.choose("auto")
    assert chosen is None and [str(p) for p in probes] == [
        "docker: not installed", "podman: not installed"
    ]  # fmt: skip
    assert engines.choose("none") == (None, [])
    with pytest.raises(InvalidArgumentError, match="cannot build with podman: not installed"):
        engines.choose("podman")  # asked for by name: its absence is an error


def test_a_pinned_pytorch_build_brings_its_index() -> None:
    from loopml.serving.requirements import Pins

    lines = Pins({"torch": "2.13.0+cpu", "numpy": "2.3.0"}, frozenset(), None).lines()
    assert lines == ["--extra-index-url https://download.pytorch.org/whl/cpu",
                     "numpy==2.3.0", "torch==2.13.0+cpu"]  # fmt: skip
    assert Pins({"numpy": "2.3.0"}, frozenset(), None).lines() == ["numpy==2.3.0"]
