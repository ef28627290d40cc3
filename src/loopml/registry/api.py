"""Register, find, alias and load model versions."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopml.artifacts import objects
from loopml.artifacts.objects import Stored
from loopml.core import context
from loopml.core.auth import local_actor
from loopml.core.dirs import make_dirs
from loopml.core.errors import InvalidArgumentError, LoopmlError, NotFoundError
from loopml.core.models import (
    AuditEvent,
    ModelVersion,
    RegisteredModel,
    Signature,
    VersionStatus,
)
from loopml.core.names import validate_alias, validate_name
from loopml.registry import run_models
from loopml.registry.flavors import flavor_for, flavor_named
from loopml.registry.loaded import LoadedModel
from loopml.registry.signature import infer_signature
from loopml.workspace import Workspace

_REF = re.compile(r"^(?P<name>[^@/]+)(?:@(?P<alias>[^@/]+)|/(?P<version>\d+))?$")


def _ws(workspace: Workspace | None, *, create: bool = False) -> Workspace:
    return workspace or Workspace.current(create=create)


def register(
    name: str,
    model: Any = None,
    run: Any = None,
    signature: Signature | None = None,
    input_example: Any = None,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    *,
    trust: bool = False,
    workspace: Workspace | None = None,
) -> ModelVersion:
    """Save `model` in its flavor's safest format and record it as the next version of `name`.

    Inside a run (a pipeline step, say) the version links to that run unless `run` says
    otherwise. `trust=True` allows pickle (the `python` flavor) and scikit-learn models that
    hold types loopml does not vet (a class of your own, a function such as a
    FunctionTransformer's `func`); loading those will need trust too.

    Without `model`, the model that `loopml.autolog()` logged in `run` (or the active run)
    is registered, with the signature and files it was logged with.
    """
    validate_name(name, "model name")
    ws = _ws(workspace, create=True)
    if model is None:
        return _register_logged(ws, name, run, metrics, tags, description, trust)
    if run_models.is_run_uri(model):  # "runs:/RUN_ID/model": the files that run logged
        return run_models.register_from_run(ws, name, model, metrics=metrics, tags=tags,
                                            description=description, trust=trust)  # fmt: skip
    flavor = flavor_for(model, trust=trust)
    if signature is None and input_example is not None:
        signature = infer_signature(input_example, _example_output(model, input_example))
    run_id = getattr(run, "id", run) or context.current_run_id()
    with tempfile.TemporaryDirectory(prefix="loopml-model-") as folder:
        trusted = flavor.save(model, Path(folder))
        risky = [] if flavor.needs_trust else flavor.risky_types(trusted)
        if risky and not trust:
            raise InvalidArgumentError(
                f"{name}: the model holds types loopml does not vet ({', '.join(risky)}): "
                "loading it could run their code. Pass trust=True if you trust them"
            )
        stored = objects.store(ws.artifacts, Path(folder))
    return ws.store.models.create_version(
        name,
        flavor=flavor.name,
        digest=stored.digest,
        size=stored.size,
        signature=signature,
        run_id=run_id,
        metrics={k: float(v) for k, v in (metrics or {}).items()},
        tags={k: str(v) for k, v in (tags or {}).items()},
        description=description,
        trusted_types=trusted,
    )


def _register_logged(
    ws: Workspace,
    name: str,
    run: Any,
    metrics: Mapping[str, float] | None,
    tags: Mapping[str, str] | None,
    description: str | None,
    trust: bool,
) -> ModelVersion:
    run_id = getattr(run, "id", run) or context.current_run_id()
    if run_id is None:
        raise InvalidArgumentError(
            f"{name}: pass the model to register, or run= a run whose fit loopml.autolog() logged"
        )
    try:
        return run_models.register_from_run(ws, name, f"{run_models.PREFIX}{run_id}/model",
                                            metrics=metrics, tags=tags, description=description,
                                            trust=trust)  # fmt: skip
    except NotFoundError:
        ws.store.runs.get(str(run_id))  # an unknown run says so
        raise InvalidArgumentError(
            f"run {run_id} logged no model: pass the model to register, or fit it under "
            "loopml.autolog() in that run"
        ) from None


def _example_output(model: Any, example: Any) -> Any:
    try:
        return model.predict(example)
    except Exception:  # the signature's output type is optional; inputs are what matter
        return None


def resolve(ref: str, *, workspace: Workspace | None = None) -> ModelVersion:
    """`name@alias`, `name/3`, `name@latest` or `name` (the latest) -> its version record;
    `runs:/RUN_ID/model` -> the model that run logged (version 0: in no registry)."""
    if run_models.is_run_uri(ref):
        return run_models.version_in_run(_ws(workspace), ref)
    match = _REF.match(ref.strip()) if isinstance(ref, str) else None
    if match is None:
        raise InvalidArgumentError(
            f"model reference {ref!r} is invalid: use NAME, NAME/VERSION or NAME@ALIAS"
        )
    models = _ws(workspace).store.models
    name, alias, version = match["name"], match["alias"], match["version"]
    if version is not None:
        return models.get_version(name, int(version))
    if alias is None or alias == "latest":
        return models.latest_version(name)
    return models.get_alias(name, validate_alias(alias))


def load(
    ref: str,
    *,
    trust: bool = False,
    allow_archived: bool = False,
    workspace: Workspace | None = None,
) -> LoadedModel:
    """The model behind a reference, its files verified by digest, ready to `predict`."""
    ws = _ws(workspace)
    version = resolve(ref, workspace=ws)
    if version.status is VersionStatus.ARCHIVED and not allow_archived:
        raise InvalidArgumentError(
            f"{version.uri} is archived (kept for audit); pass allow_archived=True to load it"
        )
    flavor = flavor_named(version.flavor)
    risky = flavor.needs_trust or bool(flavor.risky_types(version.trusted_types))
    if risky and not (trust or ws.config.trust_pickle):
        raise InvalidArgumentError(
            f"{version.uri} is a {version.flavor} model whose loading can run arbitrary code "
            f"(types: {', '.join(version.trusted_types)}). Load it with trust=True, or set "
            "LOOPML_TRUST_PICKLE=1 (or trust_pickle: true in .loopml/config.yaml), only if "
            "you trust whoever registered it"
        )
    make_dirs(ws.cache_dir)
    folder = Path(tempfile.mkdtemp(prefix="model-", dir=ws.cache_dir))
    try:  # written out fresh and verified each time: a cached copy could have been altered
        stored = Stored(version.digest, objects.FOLDER, version.size)
        objects.write_out(ws.artifacts, stored, folder / "m", what=f"model {version.uri}")
        model = _load_flavor(flavor, folder / "m", version)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return LoadedModel(version, model)


def _load_flavor(flavor: Any, folder: Path, version: ModelVersion) -> Any:
    try:
        return flavor.load(folder, version.trusted_types)
    except LoopmlError:
        raise
    except Exception as exc:  # the library's own parse error: say which model and why
        raise InvalidArgumentError(
            f"{version.uri}: its {version.flavor} files could not be loaded: {exc}"
        ) from exc


# -- records ------------------------------------------------------------------------------
def get_version(name: str, version: int, *, workspace: Workspace | None = None) -> ModelVersion:
    return _ws(workspace).store.models.get_version(name, version)


def get_model(name: str, *, workspace: Workspace | None = None) -> RegisteredModel:
    return _ws(workspace).store.models.get_model(name)


def list_models(*, workspace: Workspace | None = None) -> list[RegisteredModel]:
    return _ws(workspace).store.models.list_models()


def list_versions(name: str, *, workspace: Workspace | None = None) -> list[ModelVersion]:
    return _ws(workspace).store.models.list_versions(name)


def update_version(
    name: str,
    version: int,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    workspace: Workspace | None = None,
) -> ModelVersion:
    models = _ws(workspace).store.models
    return models.update_version(name, version, description=description, tags=tags)


def update_model(
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    workspace: Workspace | None = None,
) -> RegisteredModel:
    return _ws(workspace).store.models.update_model(name, description=description, tags=tags)


def archive(name: str, version: int, *, workspace: Workspace | None = None) -> ModelVersion:
    models = _ws(workspace).store.models
    return models.update_version(name, version, status=VersionStatus.ARCHIVED, actor=local_actor())


def delete_version(name: str, version: int, *, workspace: Workspace | None = None) -> None:
    _ws(workspace).store.models.delete_version(name, version, actor=local_actor())


# -- aliases ------------------------------------------------------------------------------
def set_alias(
    name: str,
    alias: str,
    version: int,
    reason: str | None = None,
    *,
    workspace: Workspace | None = None,
) -> ModelVersion:
    """Point `alias` at `version`; the move is written to the audit trail with who and why."""
    models = _ws(workspace).store.models
    models.set_alias(name, alias, version, actor=local_actor(), reason=reason)
    return models.get_version(name, version)


def delete_alias(
    name: str, alias: str, reason: str | None = None, *, workspace: Workspace | None = None
) -> int:
    return _ws(workspace).store.models.delete_alias(name, alias, actor=local_actor(), reason=reason)


def get_alias(name: str, alias: str, *, workspace: Workspace | None = None) -> ModelVersion:
    return _ws(workspace).store.models.get_alias(name, validate_alias(alias))


def history(name: str, *, limit: int = 100, workspace: Workspace | None = None) -> list[AuditEvent]:
    """Alias moves and version changes of a model, newest first."""
    ws = _ws(workspace)
    ws.store.models.get_model(name)  # NotFoundError for an unknown model
    return ws.store.audit.events(target=f"model:{name}", limit=limit)
