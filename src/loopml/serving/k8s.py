"""`loopml k8s`: Kubernetes manifests for a deployment's image, as Python dicts.

The serving Deployment runs the image of `loopml build` (non-root, probes on the Open
Inference Protocol's /v2/health routes), behind a Service and a HorizontalPodAutoscaler
(autoscaling/v2). Every secret (the serve token, the store URI, S3 credentials) is read
through secretKeyRef from a Secret whose values are left empty here: a manifest folder is
no place for credentials (fill it with `kubectl create secret ... --dry-run=client -o yaml`,
or a secret manager). The team's server and controller are in serving.k8s_team.
"""

from __future__ import annotations

import re
from typing import Any

from loopml.serving.dockerfile import LIVE, PORT, READY, UID

Manifest = dict[str, Any]
PART_OF = "loopml"
# Environment variable -> key in the Secret; all but the token are optional (empty: unset).
SERVING_SECRETS = {
    "LOOPML_SERVE_TOKEN": "serve-token",
    "LOOPML_STORE_URI": "store-uri",
    "LOOPML_ARTIFACT_URI": "artifact-uri",
    "LOOPML_SERVER_URI": "server-uri",
    "LOOPML_TOKEN": "server-token",
    "LOOPML_S3_ENDPOINT_URL": "s3-endpoint-url",
    "AWS_ACCESS_KEY_ID": "aws-access-key-id",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-access-key",
}
REQUIRED = ("LOOPML_SERVE_TOKEN",)
RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"},
             "limits": {"cpu": "1", "memory": "1Gi"}}  # fmt: skip
CPU_TARGET = 70  # percent of the request the autoscaler keeps pods at


def dns_name(name: str, limit: int = 63) -> str:
    """A DNS-1123 label: lower-case letters, digits and '-'."""
    label = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:limit].strip("-")
    return label or "loopml"


def labels(component: str, instance: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": f"loopml-{component}",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
    }


def secret(name: str, keys: list[str], component: str, instance: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": labels(component, instance)},
        "type": "Opaque",
        "stringData": dict.fromkeys(keys, ""),
    }


def secret_env(secret_name: str, mapping: dict[str, str], required: tuple[str, ...]) -> list[Any]:
    return [
        {
            "name": variable,
            "valueFrom": {
                "secretKeyRef": {
                    "name": secret_name,
                    "key": key,
                    "optional": variable not in required,
                }
            },
        }
        for variable, key in mapping.items()
    ]


def pod_security() -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> Manifest:
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def probe(path: str, **timing: int) -> Manifest:
    return {"httpGet": {"path": path, "port": "http"}, **timing}


def service_hosts(service: str, namespace: str) -> list[str]:
    """The names clients reach a Service by, for the server's Host allow-list."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
            f"{service}.{namespace}.svc.cluster.local"]  # fmt: skip


def deployment(
    name: str, component: str, instance: str, replicas: int, container: Manifest,
    volumes: list[Manifest] | None = None,
) -> Manifest:  # fmt: skip
    match = labels(component, instance)
    pod: Manifest = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "terminationGracePeriodSeconds": 40,  # serve drains for up to 30 s on SIGTERM
        "containers": [container],
    }
    if volumes:
        pod["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": match},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": match},
            "template": {"metadata": {"labels": match}, "spec": pod},
        },
    }


def service(name: str, component: str, instance: str, port: int) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels(component, instance)},
        "spec": {
            "type": "ClusterIP",
            "selector": labels(component, instance),
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def serving_manifests(
    deployment_name: str, image: str, *, replicas: int, max_replicas: int, namespace: str
) -> dict[str, Manifest]:
    """File name -> manifest for serving `deployment_name` from `image`."""
    name = dns_name(f"loopml-{deployment_name}")
    secret_name = f"{name}-secrets"
    args = [arg for host in service_hosts(name, namespace) for arg in ("--allowed-host", host)]
    container = {
        "name": "serve",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [
            {"name": "LOOPML_DEPLOYMENT", "value": deployment_name},
            {"name": "LOOPML_PORT", "value": str(PORT)},
            *secret_env(secret_name, SERVING_SECRETS, REQUIRED),
        ],
        "readinessProbe": probe(READY, periodSeconds=5, timeoutSeconds=3, failureThreshold=3),
        "livenessProbe": probe(
            LIVE, initialDelaySeconds=10, periodSeconds=10, timeoutSeconds=3, failureThreshold=3
        ),
        "startupProbe": probe(LIVE, periodSeconds=2, timeoutSeconds=3, failureThreshold=60),
        "resources": RESOURCES,
        "securityContext": container_security(),
    }
    return {
        "secret.yaml": secret(secret_name, list(SERVING_SECRETS.values()), "serving", name),
        "deployment.yaml": deployment(name, "serving", name, replicas, container),
        "service.yaml": service(name, "serving", name, 80),
        "hpa.yaml": autoscaler(name, "serving", replicas, max_replicas),
    }


def autoscaler(target: str, component: str, replicas: int, max_replicas: int) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "labels": labels(component, target)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET},
                    },
                }
            ],
        },
    }
