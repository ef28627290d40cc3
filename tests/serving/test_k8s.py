"""Issue 16.2: `loopml k8s` writes manifests that validate against the Kubernetes schemas
(offline, kubernetes-validate's copy for a pinned version) and render with kustomize."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loopml.core.errors import InvalidArgumentError
from loopml.serving import dockerfile
from loopml.serving.k8s import SERVING_SECRETS
from loopml.serving.k8s_output import write_manifests
from loopml.serving.k8s_team import TEAM_SECRETS

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install loopml[dev]")
K8S_VERSION = "1.30.0"  # pinned: the schemas ship with kubernetes-validate
SECRET_VARIABLES = set(SERVING_SECRETS) | set(TEAM_SECRETS)


@pytest.fixture
def manifests(iris_workspace, tmp_path):  # type: ignore[no-untyped-def]
    return write_manifests(iris_workspace, "iris-api", tmp_path / "k8s", image="reg.example/iris:1",
                           replicas=2, namespace="ml")  # fmt: skip


def _docs(folder: Path) -> dict[str, dict[str, Any]]:
    """Every Kubernetes object written, by file name relative to `folder`."""
    found = {}
    for path in sorted(folder.rglob("*.yaml")):
        if path.name in ("kustomization.yaml", "loopml.yaml"):
            continue
        found[path.relative_to(folder).as_posix()] = yaml.safe_load(path.read_text())
    return found


def _validate(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_document_validates_against_the_pinned_schema(manifests):
    docs = _docs(manifests.folder)
    kinds = sorted(d["kind"] for d in docs.values())
    assert kinds == ["Deployment", "Deployment", "Deployment", "HorizontalPodAutoscaler",
                     "Secret", "Secret", "Service", "Service"]  # fmt: skip
    for name, doc in docs.items():
        try:
            _validate(doc)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {exc}")


def test_the_validator_refuses_a_broken_manifest(manifests):
    doc = _docs(manifests.folder)["serving/deployment.yaml"]
    doc["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = doc["spec"]["template"][
        "spec"
    ]["containers"][0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(doc)


def _serving(manifests) -> tuple[dict[str, Any], dict[str, Any]]:  # type: ignore[no-untyped-def]
    deployment = _docs(manifests.folder)["serving/deployment.yaml"]
    return deployment, deployment["spec"]["template"]["spec"]["containers"][0]


def test_probes_point_at_the_inference_protocols_health_routes(manifests):
    _, container = _serving(manifests)
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert {"name": "http", "containerPort": dockerfile.PORT, "protocol": "TCP"} in container[
        "ports"
    ]
    assert container["image"] == "reg.example/iris:1"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    hosts = container["args"][1::2]
    assert "loopml-iris-api.ml.svc.cluster.local" in hosts and set(container["args"][::2]) == {
        "--allowed-host"
    }


def test_containers_run_as_the_images_non_root_user(manifests):
    for name, doc in _docs(manifests.folder).items():
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == dockerfile.UID != 0, name
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_secrets_are_referenced_never_inlined(manifests):
    docs = _docs(manifests.folder)
    secret_names = {d["metadata"]["name"] for d in docs.values() if d["kind"] == "Secret"}
    for name, doc in docs.items():
        if doc["kind"] == "Secret":
            assert set(doc["stringData"].values()) == {""}, name  # no value is written
            continue
        assert "stringData" not in yaml.safe_dump(doc) and "data" not in doc
        if doc["kind"] != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            variables = {e["name"]: e for e in container["env"]}
            assert SECRET_VARIABLES & set(variables), name
            for variable in SECRET_VARIABLES & set(variables):
                ref = variables[variable]["valueFrom"]["secretKeyRef"]
                assert "value" not in variables[variable] and ref["name"] in secret_names
    _, container = _serving(manifests)
    token = next(e for e in container["env"] if e["name"] == "LOOPML_SERVE_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["optional"] is False  # no pod without a token
    for kustomization in manifests.folder.rglob("kustomization.yaml"):  # apply -k never clears
        assert "secret.yaml" not in yaml.safe_load(kustomization.read_text())["resources"]


def test_the_autoscaler_targets_the_deployment(manifests):
    docs = _docs(manifests.folder)
    hpa, deployment = docs["serving/hpa.yaml"], docs["serving/deployment.yaml"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"], "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }  # fmt: skip
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"] == 2
    assert hpa["spec"]["maxReplicas"] == 6
    service = docs["serving/service.yaml"]
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def _parses(args: list[str]) -> None:
    """`loopml ARGS` is a command line the real CLI accepts (options and subcommands)."""
    from loopml.cli.main import command

    group: Any = command()
    ctx = group.make_context("loopml", list(args), resilient_parsing=False)
    rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
    while hasattr(group, "resolve_command") and rest:  # a group (Typer's own Click)
        name, group, rest = group.resolve_command(ctx, rest)
        ctx = group.make_context(name, rest, parent=ctx)
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
    assert not rest, rest


def test_the_team_base_runs_the_server_and_the_controller(manifests):
    docs = _docs(manifests.folder)
    server = docs["team/server.yaml"]["spec"]["template"]["spec"]["containers"][0]
    controller = docs["team/controller.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert server["command"] == controller["command"] == ["loopml"]
    assert server["args"][:3] == ["server", "--host", "0.0.0.0"]
    assert controller["args"][:2] == ["loop", "run"]
    for container in (server, controller):
        _parses(container["args"])
    assert server["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready"
    from loopml.core.project_config import parse_project_config

    parse_project_config(yaml.safe_load((manifests.folder / "team/loopml.yaml").read_text()))


def test_kustomize_renders_the_bases(manifests):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH (kustomize is part of it)")
    done = subprocess.run([kubectl, "kustomize", str(manifests.folder)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    kinds = sorted(d["kind"] for d in rendered)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Deployment",
                     "HorizontalPodAutoscaler", "Service", "Service"]  # fmt: skip
    for doc in rendered:
        assert doc["metadata"]["namespace"] == "ml"
        _validate(doc)
    config_map = next(d for d in rendered if d["kind"] == "ConfigMap")
    controller = next(d for d in rendered if d["metadata"]["name"] == "loopml-controller")
    volume = controller["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]  # the hashed name


def test_bad_arguments_are_refused(iris_workspace, tmp_path):
    for options, message in (({"replicas": 0}, "--replicas"),
                             ({"replicas": 3, "max_replicas": 2}, "--max-replicas"),
                             ({"namespace": "Bad_NS"}, "--namespace"),
                             ({"image": "has space"}, "--image")):  # fmt: skip
        with pytest.raises(InvalidArgumentError, match=message):
            write_manifests(iris_workspace, "iris-api", tmp_path / "k8s", **options)
    assert not (tmp_path / "k8s").exists()


def test_cli_writes_manifests_and_a_bad_name_is_one_line(iris_workspace, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "loopml", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    done = cli("k8s", "nope")
    assert done.returncode == 1 and done.stderr.startswith("error: ")
    assert len(done.stderr.strip().splitlines()) == 1 and "nope" in done.stderr
    done = cli("k8s", "iris-api", "--replicas", "3")
    assert done.returncode == 0, done.stderr
    deployment = yaml.safe_load((tmp_path / "k8s/iris-api/serving/deployment.yaml").read_text())
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "loopml-iris-api:r1"  # the tag `loopml build` gives by default
    )
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    done = cli("k8s", "iris-api", "--output", "mine")
    assert done.returncode == 1 and "not a folder of loopml k8s manifests" in done.stderr
