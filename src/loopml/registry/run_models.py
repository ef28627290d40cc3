"""Models referred to by the run that logged them: `runs:/RUN_ID/ARTIFACT` (usually
`runs:/RUN_ID/model`, what `loopml.autolog()` logs), accepted wherever a registered model's
reference is (`registry.load`, `loopml predict`) and as the source of `registry.register`.

The artifact is the folder a flavor saved, with `ARTIFACT.json` beside it (flavor, the types
loading may construct, the signature). Loading follows a registered version's rules: files
verified by digest, pickle-based or unvetted types only with trust. The record returned for
one is a ModelVersion named after the URI, with version 0 (it is in no registry).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.models import ModelVersion, Signature
from loopml.registry.flavors import flavor_named
from loopml.workspace import Workspace

PREFIX = "runs:/"
_URI = re.compile(r"^runs:/(?P<run>[0-9A-Za-z]{4,64})/(?P<artifact>[^\s]+)$")


def is_run_uri(ref: object) -> bool:
    return isinstance(ref, str) and ref.strip().startswith(PREFIX)


def parse(ref: str) -> tuple[str, str]:
    match = _URI.match(ref.strip())
    if match is None:
        raise InvalidArgumentError(
            f"model reference {ref!r} is invalid: use runs:/RUN_ID/ARTIFACT, e.g. runs:/ID/model"
        )
    return match["run"], match["artifact"]


def _logged(ws: Workspace, ref: str) -> tuple[str, str, ModelVersion]:
    run_id, artifact = parse(ref)
    runs = ws.store.runs
    folder = runs.get_artifact(run_id, artifact)  # NotFoundError names the run and artifact
    try:
        info_ref = runs.get_artifact(run_id, f"{artifact}.json")
    except NotFoundError:
        raise InvalidArgumentError(
            f"{ref}: run {run_id}'s artifact {artifact!r} is not a model (no {artifact}.json "
            "beside it: models are logged by loopml.autolog())"
        ) from None
    what = f"{artifact}.json of run {run_id}"
    info = json.loads(ws.artifacts.get_bytes(info_ref.digest, what=what))
    signature = Signature.from_json(info["signature"]) if info.get("signature") else None
    version = ModelVersion(
        name=f"{PREFIX}{run_id}/{artifact}", version=0, flavor=str(info["flavor"]),
        digest=folder.digest, size=folder.size, created_time=folder.created_time or
        datetime.now(UTC), signature=signature, run_id=run_id,
        trusted_types=tuple(info.get("trusted_types") or ()),
    )  # fmt: skip
    return run_id, artifact, version


def version_in_run(ws: Workspace, ref: str) -> ModelVersion:
    """The model a run logged, as a (registry-less) version record."""
    return _logged(ws, ref)[2]


def register_from_run(
    ws: Workspace,
    name: str,
    ref: str,
    *,
    metrics: Mapping[str, float] | None,
    tags: Mapping[str, str] | None,
    description: str | None,
    trust: bool,
) -> ModelVersion:
    """The model a run logged, recorded as the next version of `name` (its files as they are,
    linked to the run)."""
    run_id, _, logged = _logged(ws, ref)
    flavor = flavor_named(logged.flavor)
    risky = flavor.risky_types(logged.trusted_types)
    if (risky or flavor.needs_trust) and not trust:
        listed = ", ".join(risky) or logged.flavor
        raise InvalidArgumentError(
            f"{name}: the model in {ref} holds types loopml does not vet ({listed}): loading "
            "it could run their code. Pass trust=True if you trust them"
        )
    return ws.store.models.create_version(
        name, flavor=logged.flavor, digest=logged.digest, size=logged.size,
        signature=logged.signature, run_id=run_id,
        metrics={k: float(v) for k, v in (metrics or {}).items()},
        tags={k: str(v) for k, v in (tags or {}).items()},
        description=description, trusted_types=list(logged.trusted_types),
    )  # fmt: skip
