"""The team's side of a Kubernetes install: the REST server (`loopml server`) and the
continuous-training controller (`loopml loop run`), on the shared stores (PostgreSQL and S3,
whose URIs and credentials come from a Secret), as a kustomize base.

The controller reads its policies from the project's `loopml.yaml`, shipped as a ConfigMap
made by kustomize's configMapGenerator from the copy beside the manifests. It retrains with
the project's pipelines, so its image must hold the project's code (`--image` of
`loopml k8s` gives one image for all; set the controller's in an overlay when they differ).
"""

from __future__ import annotations

from loopml.serving.k8s import (
    RESOURCES,
    Manifest,
    container_security,
    deployment,
    probe,
    secret,
    secret_env,
    service,
    service_hosts,
)

SERVER = "loopml-server"
CONTROLLER = "loopml-controller"
SECRET = "loopml-team-secrets"
PROJECT_CONFIG = "loopml-project"
SERVER_PORT = 8000
PROJECT_DIR = "/srv/project"
TEAM_SECRETS = {
    "LOOPML_STORE_URI": "store-uri",
    "LOOPML_ARTIFACT_URI": "artifact-uri",
    "LOOPML_S3_ENDPOINT_URL": "s3-endpoint-url",
    "AWS_ACCESS_KEY_ID": "aws-access-key-id",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-access-key",
}
TEAM_REQUIRED = ("LOOPML_STORE_URI", "LOOPML_ARTIFACT_URI")


def team_manifests(image: str, *, namespace: str) -> dict[str, Manifest]:
    """File name -> manifest of the team base (the kustomization is written beside them)."""
    env = secret_env(SECRET, TEAM_SECRETS, TEAM_REQUIRED)
    hosts = service_hosts(SERVER, namespace)
    server = {
        "name": "server",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["loopml"],
        "args": [
            "server",
            "--host",
            "0.0.0.0",
            "--port",
            str(SERVER_PORT),
            *(arg for host in hosts for arg in ("--allowed-host", host)),
        ],
        "ports": [{"name": "http", "containerPort": SERVER_PORT, "protocol": "TCP"}],
        "env": env,
        "readinessProbe": probe("/api/v1/health/ready", periodSeconds=5, timeoutSeconds=3),
        "livenessProbe": probe(
            "/api/v1/health/live", initialDelaySeconds=10, periodSeconds=10, timeoutSeconds=3
        ),
        "resources": RESOURCES,
        "securityContext": container_security(),
    }
    controller = {
        "name": "controller",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["loopml"],
        "args": ["loop", "run", "--interval", "30"],
        "workingDir": PROJECT_DIR,  # its loopml.yaml: the policies
        "env": env,
        "volumeMounts": [{"name": "project", "mountPath": PROJECT_DIR, "readOnly": True}],
        "resources": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "2", "memory": "4Gi"},
        },
        "securityContext": container_security(),
    }
    volumes = [{"name": "project", "configMap": {"name": PROJECT_CONFIG}}]
    return {
        "secret.yaml": secret(SECRET, list(TEAM_SECRETS.values()), "team", SERVER),
        "server.yaml": deployment(SERVER, "server", SERVER, 1, server),
        "server-service.yaml": service(SERVER, "server", SERVER, SERVER_PORT),
        "controller.yaml": deployment(
            CONTROLLER, "controller", CONTROLLER, 1, controller, volumes=volumes
        ),
    }


def team_kustomization(files: list[str]) -> Manifest:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": files,
        "configMapGenerator": [{"name": PROJECT_CONFIG, "files": ["loopml.yaml"]}],
    }
