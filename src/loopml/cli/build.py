"""`loopml build` (a container image for a deployment) and `loopml k8s` (its manifests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from loopml.cli.output import console


def build_command(
    deployment: str = typer.Argument(..., help="The deployment to serve."),
    tag: str = typer.Option(None, "--tag", "-t", help="Image tag (default: "
                            "loopml-DEPLOYMENT:rREVISION)."),
    output: Path = typer.Option(None, "--output", "-o", help="Folder for the build context "
                                "(default: build/DEPLOYMENT)."),
    engine: str = typer.Option("auto", "--engine", help="docker, podman or none (default: "
                               "whichever answers; none only writes the context)."),
    trust: bool = typer.Option(False, "--trust", help="Allow pickle-based models in the "
                               "image."),
) -> None:  # fmt: skip
    """Write a container build context serving DEPLOYMENT (Dockerfile, pinned requirements,
    a loopml wheel, the model files in a workspace of their own) and build the image when a
    container engine answers. The image needs LOOPML_SERVE_TOKEN at run time."""
    from loopml.serving import engines
    from loopml.serving.container import write_context
    from loopml.workspace import Workspace

    chosen, probes = engines.choose(engine)  # a bad --engine before any work
    ws = Workspace.current()
    out = output or Path("build") / deployment
    context = write_context(ws, deployment, out, tag=tag, trust=trust)
    _print_context(context)
    if chosen is None:
        _print_howto(context, probes)
        return
    engines.build(chosen, context.folder, context.tag)
    console().print(f"built image {context.tag} with {chosen.name}")
    console().print(f"run it: {chosen.name} run -p 8080:8080 -e LOOPML_SERVE_TOKEN=TOKEN "
                    f"{context.tag}", markup=False, highlight=False)  # fmt: skip


def _print_context(context: Any) -> None:
    routes = ", ".join(f"{r.model}/{r.version} {r.mode.value}"
                       for r in context.export.deployment.routes)  # fmt: skip
    pins = context.pins
    console().print(
        f"wrote build context {context.folder} for {context.export.deployment.name} "
        f"(revision {context.export.deployment.revision}: {routes}); "
        f"{len(pins.pins)} pinned requirements, {len(pins.recorded)} from the training run's "
        f"environment; base {context.summary()['base_image']}",
        markup=False, highlight=False,
    )  # fmt: skip
    for conflict in pins.conflicts:
        console().print(f"note: routes trained with different versions: {conflict}",
                        markup=False, highlight=False)  # fmt: skip


def _print_howto(context: Any, probes: list[Any]) -> None:
    why = "; ".join(str(p) for p in probes) or "--engine none"
    console().print(f"no image built ({why}). Build and run it with:", markup=False,
                    highlight=False)  # fmt: skip
    console().print(f"  docker build -t {context.tag} {context.folder}\n"
                    f"  docker run -p 8080:8080 -e LOOPML_SERVE_TOKEN=TOKEN {context.tag}",
                    markup=False, highlight=False)  # fmt: skip


def k8s_command(
    deployment: str = typer.Argument(..., help="The deployment to serve."),
    output: Path = typer.Option(None, "--output", "-o", help="Folder for the manifests "
                                "(default: k8s/DEPLOYMENT)."),
    image: str = typer.Option(None, "--image", help="The image of `loopml build` (default: "
                              "loopml-DEPLOYMENT:rREVISION)."),
    replicas: int = typer.Option(1, "--replicas", help="Serving pods (the autoscaler's "
                                 "minimum)."),
    max_replicas: int = typer.Option(None, "--max-replicas", help="The autoscaler's maximum "
                                     "(default: 3 x --replicas, at least 3)."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Namespace of the "
                                  "kustomization (and the Service names the servers answer)."),
) -> None:  # fmt: skip
    """Write Kubernetes manifests for DEPLOYMENT's image (Deployment with probes, Service,
    HorizontalPodAutoscaler, Secret references) and a kustomize base for the team server and
    the controller. Apply with `kubectl apply -k DIR` once the Secrets are filled in and applied
    (they are not in the kustomization, so re-applying it never clears them)."""
    from loopml.serving.k8s_output import write_manifests
    from loopml.workspace import Workspace

    out = output or Path("k8s") / deployment
    written = write_manifests(Workspace.current(), deployment, out, image=image,
                              replicas=replicas, max_replicas=max_replicas,
                              namespace=namespace)  # fmt: skip
    say = console().print
    say(f"wrote {len(written.files)} files to {written.folder} (image {written.image})",
        markup=False, highlight=False)  # fmt: skip
    say("the Secrets are left out of the kustomization (so applying it never clears them): "
        "fill in serving/secret.yaml and team/secret.yaml (serve token, store URI, S3 "
        f"credentials) and apply them once, then: kubectl apply -k {written.folder}",
        markup=False, highlight=False)  # fmt: skip
    if replicas > 1:
        say("note: with more than one replica, set store-uri and artifact-uri (or server-uri) "
            "so every pod logs to the team's store", markup=False, highlight=False)  # fmt: skip
