"""`loopml reproduce NAME/VERSION`: run the pipeline that produced a model version again, and
report every difference between the record and the present (code, packages, data, metrics).

The pipeline is re-run in the current checkout (the recorded commit is compared, never checked
out), with the recorded parameters and `cache=False`, in the same workspace. Its pipeline run
is tagged `loopml.reproduction_of=NAME/VERSION`; a model version it registers is tagged the
same way and archived (so `NAME@latest` does not move), and an alias it moves is put back.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopml.artifacts.hashing import digest_bytes
from loopml.core.entities import Run, RunStatus
from loopml.core.errors import InvalidArgumentError, LoopmlError, NotFoundError
from loopml.core.models import ModelVersion, VersionStatus
from loopml.core.pipelines import (
    KIND_PIPELINE,
    TAG_CACHED_FROM,
    TAG_KIND,
    TAG_NODE,
    TAG_REPRODUCTION_OF,
    TAG_SOURCE,
)
from loopml.workspace import Workspace

ACTOR = "loopml reproduce"
MAX_PACKAGES_SHOWN = 20
ADDED = " (added)"


@dataclasses.dataclass(frozen=True)
class Difference:
    kind: str  # "code" | "environment" | "data" | "metric" | "model" | "run"
    what: str
    recorded: Any = None
    now: Any = None
    detail: str = ""
    fails: bool = True  # whether it means "does not reproduce"


@dataclasses.dataclass(frozen=True)
class Source:
    """What produced a model version: the version, its training run and pipeline run."""

    version: ModelVersion
    run: Run
    pipeline_run: Run
    target: str | None  # FILE.py:NAME, as recorded (None when not recorded)


@dataclasses.dataclass(frozen=True)
class Report:
    model: str
    pipeline_run: str
    reproduction_run: str | None
    target: str
    params: dict[str, Any]
    differences: tuple[Difference, ...]

    @property
    def reproduced(self) -> bool:
        return self.reproduction_run is not None and not any(d.fails for d in self.differences)


# -- 1. the record ---------------------------------------------------------------------------
def find_source(ws: Workspace, ref: str) -> Source:
    """The model version `ref` names and the pipeline run behind it; refused when the
    version was not registered by a step of a pipeline run."""
    from loopml.registry.api import resolve

    version = resolve(ref, workspace=ws)
    runs = ws.store.runs
    if not version.run_id:
        raise LoopmlError(f"model {version.uri} records no training run: nothing to re-run")
    try:
        run = runs.get(version.run_id)
    except NotFoundError:
        raise LoopmlError(
            f"model {version.uri}: its training run {version.run_id} was deleted"
        ) from None
    pipeline_run = _pipeline_of(ws, run)
    if pipeline_run is None:
        raise LoopmlError(
            f"model {version.uri} was registered by run {run.id[:12]} ({run.name}), which is "
            "not a step of a pipeline run: only pipeline-made versions can be reproduced"
        )
    return Source(version, run, pipeline_run, pipeline_run.tags.get(TAG_SOURCE))


def _pipeline_of(ws: Workspace, run: Run) -> Run | None:
    if run.tags.get(TAG_KIND) == KIND_PIPELINE:
        return run
    if run.parent_run_id is None:
        return None
    try:
        parent = ws.store.runs.get(run.parent_run_id)
    except NotFoundError:
        return None
    return parent if parent.tags.get(TAG_KIND) == KIND_PIPELINE else None


def resolve_target(source: Source, override: str | None) -> str:
    """FILE.py:NAME to run: `override`, or the recorded one (a file under the recorded repo
    root is looked for at the same place in the current repository)."""
    if override:
        return override
    if not source.target:
        raise LoopmlError(
            f"pipeline run {source.pipeline_run.id[:12]} does not record where its pipeline "
            f"is defined (tag {TAG_SOURCE}, written by newer loopml): pass --pipeline FILE.py:NAME"
        )
    path_text, _, name = source.target.rpartition(":")
    path, root = Path(path_text), source.pipeline_run.code.repo_root
    here = _git(Path.cwd(), "rev-parse", "--show-toplevel")
    if root and here and path.is_relative_to(root):
        moved = Path(here.strip()) / path.relative_to(root)
        if moved.is_file():
            path = moved
    return f"{path}:{name}"


# -- 2. the present against the record -------------------------------------------------------
def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def compare_code(recorded: Run, folder: Path) -> list[Difference]:
    """The recorded commit and uncommitted diff against the checkout `folder` is in."""
    code = recorded.code
    head = (_git(folder, "rev-parse", "HEAD") or "").strip() or None
    found: list[Difference] = []
    if code.commit != head:
        stat = ""
        if code.commit and head:
            stat = _git(folder, "diff", "--stat", f"{code.commit}..{head}", "--", ".") or ""
        found.append(
            Difference("code", "git commit", code.commit, head, stat.rstrip(), fails=False)
        )
    diff = (_git(folder, "diff", "HEAD", "--no-color", "--no-ext-diff") or "").encode()
    now = digest_bytes(diff) if diff else None
    if now != code.diff_digest:
        stat = _git(folder, "diff", "--stat", "HEAD", "--", ".") or ""
        found.append(
            Difference(
                "code", "uncommitted changes", _short(code.diff_digest) or "clean",
                _short(now) or "clean", stat.rstrip(), fails=False,
            )
        )  # fmt: skip
    return found


def compare_environment(ws: Workspace, recorded: Run) -> list[Difference]:
    """The installed packages' digest (as tracking records it) and, when the recorded list is
    still stored, which packages differ."""
    from loopml.tracking.capture import capture_environment

    packages = capture_environment().packages
    now = digest_bytes(packages)
    if recorded.env_digest is None or now == recorded.env_digest:
        return []
    detail = ""
    try:
        before = ws.artifacts.get_bytes(recorded.env_digest, what="recorded packages")
        detail = _package_changes(before.decode(), packages.decode())
    except LoopmlError:
        pass
    return [
        Difference(
            "environment", "package digest", _short(recorded.env_digest), _short(now), detail,
            fails=False,
        )
    ]  # fmt: skip


def _package_changes(before: str, after: str) -> str:
    old = dict(line.split("==", 1) for line in before.splitlines() if "==" in line)
    new = dict(line.split("==", 1) for line in after.splitlines() if "==" in line)
    changes = [
        f"{name}: {old.get(name, '-')} -> {new.get(name, '-')}"
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]
    more = len(changes) - MAX_PACKAGES_SHOWN
    return "\n".join(changes[:MAX_PACKAGES_SHOWN] + ([f"... {more} more"] if more > 0 else []))


def dataset_uses(ws: Workspace, pipeline_run: Run) -> dict[str, tuple[str, str]]:
    """`node:dataset` -> (version, digest) for every dataset version a step of the pipeline
    run used or added (a cached step: the run it was cached from)."""
    runs = ws.store.runs
    found: dict[str, tuple[str, str]] = {}
    for step in _steps(ws, pipeline_run):
        node = step.tags.get(TAG_NODE, step.name)
        source = _origin(ws, step)
        for item in runs.inputs(source.id):
            if item.kind == "dataset":
                found[f"{node}:{item.name}"] = (item.version, item.digest or "")
        for added in ws.store.datasets.produced_by(source.id):
            found[f"{node}:{added.name}{ADDED}"] = (str(added.version), added.digest)
    return found


def check_datasets(ws: Workspace, uses: Mapping[str, tuple[str, str]]) -> list[Difference]:
    """Each recorded dataset version must still exist with the digest recorded."""
    found = []
    for key, (version, digest) in uses.items():
        name = key.split(":", 1)[1].removesuffix(ADDED)
        try:
            stored = ws.store.datasets.get_version(name, int(version)).digest
        except (NotFoundError, ValueError):
            stored = None
        if stored != digest:
            found.append(
                Difference(
                    "data", f"{name}@{version} in the store", _short(digest),
                    _short(stored) or "missing",
                )
            )  # fmt: skip
    return found


def compare_datasets(
    recorded: Mapping[str, tuple[str, str]], now: Mapping[str, tuple[str, str]]
) -> list[Difference]:
    """The data each step of the re-run used against what the recorded run used, by digest
    (a new version with the same content is the same data)."""
    found = []
    for key in sorted(recorded.keys() | now.keys()):
        old, new = recorded.get(key), now.get(key)
        if key.endswith(ADDED) and (old is None or new is None):
            continue  # adding the same content again adds no version: only inputs tell
        if (old and old[1]) != (new and new[1]):
            found.append(Difference("data", key, _data_label(old), _data_label(new)))
    return found


def _data_label(use: tuple[str, str] | None) -> str:
    return "-" if use is None else f"@{use[0]} {_short(use[1])}"


# -- 3. the re-run ---------------------------------------------------------------------------
def recorded_params(pipeline: Any, run: Run) -> dict[str, Any]:
    """The pipeline run's params (stored as text) converted to the pipeline's annotations."""
    try:
        hints = typing.get_type_hints(pipeline.fn)
    except Exception:
        hints = {}
    params: dict[str, Any] = {}
    for key, text in run.params.items():
        if key not in pipeline.signature.parameters:
            raise InvalidArgumentError(
                f"the recorded parameter {key!r} is not a parameter of pipeline "
                f"{pipeline.name!r} any more"
            )
        params[key] = _convert(str(text), hints.get(key))
    return params


def _convert(text: str, wanted: Any) -> Any:
    import types

    import yaml

    options = typing.get_args(wanted)
    if typing.get_origin(wanted) in (typing.Union, types.UnionType):
        if text == "None" and type(None) in options:
            return None
        plain = [o for o in options if o is not type(None)]
        wanted = plain[0] if len(plain) == 1 else None
    if wanted is str:
        return text
    if text == "None":
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if wanted is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def rerun(
    ws: Workspace, source: Source, pipeline: Any, params: Mapping[str, Any], executor: str
) -> tuple[Any, list[Difference]]:
    """Run the pipeline again without the cache, tagged as a reproduction; a model version it
    registers is tagged and archived, and aliases it moved are put back."""
    name, ref = source.version.name, source.version.uri
    aliases = _aliases(ws, name)
    result = pipeline.run(
        executor=executor,
        cache=False,
        workspace=ws,
        project=source.pipeline_run.project,
        tags={TAG_REPRODUCTION_OF: ref},
        **params,
    )
    notes = _restore_aliases(ws, name, aliases, ref)
    for version in _registered(ws, result.id):
        tags = {**version.tags, TAG_REPRODUCTION_OF: ref}
        ws.store.models.update_version(version.name, version.version, tags=tags, actor=ACTOR)
        if not ws.store.models.get_version(version.name, version.version).aliases:
            ws.store.models.update_version(
                version.name, version.version, status=VersionStatus.ARCHIVED, actor=ACTOR
            )
    return result, notes


def _aliases(ws: Workspace, name: str) -> dict[str, int]:
    return {a: v.version for v in ws.store.models.list_versions(name) for a in v.aliases}


def _restore_aliases(
    ws: Workspace, name: str, before: dict[str, int], ref: str
) -> list[Difference]:
    models, after = ws.store.models, _aliases(ws, name)
    notes = []
    reason = f"reproduction of {ref}: put back"
    for alias in sorted(before.keys() | after.keys()):
        if before.get(alias) == after.get(alias):
            continue
        if alias in before:
            models.set_alias(name, alias, before[alias], actor=ACTOR, reason=reason)
        else:
            models.delete_alias(name, alias, actor=ACTOR, reason=reason)
        notes.append(
            Difference(
                "model", f"alias {name}@{alias} (moved by the re-run, put back)",
                before.get(alias), after.get(alias), fails=False,
            )
        )  # fmt: skip
    return notes


def _registered(ws: Workspace, pipeline_run_id: str) -> list[ModelVersion]:
    found = []
    for step in ws.store.runs.search(
        filter=f"parent_run_id = '{pipeline_run_id}'", order_by=["start_time ASC"], limit=1000
    ):
        found += ws.store.models.versions_from_run(step.id)
    return found


# -- 4. metrics ------------------------------------------------------------------------------
def compare_metrics(
    recorded: Mapping[str, float],
    now: Mapping[str, float] | None,
    where: str,
    tolerance: float,
    relative: bool,
) -> list[Difference]:
    if now is None:
        return [Difference("metric", where, "recorded", "missing")]
    found = []
    for key in sorted(recorded.keys() | now.keys()):
        old, new = recorded.get(key), now.get(key)
        if old is None or new is None or not _close(old, new, tolerance, relative):
            found.append(Difference("metric", f"{where} {key}", old, new, _delta(old, new)))
    return found


def _close(old: float, new: float, tolerance: float, relative: bool) -> bool:
    if math.isnan(old) and math.isnan(new):
        return True
    if relative:
        return math.isclose(old, new, rel_tol=tolerance, abs_tol=0.0)
    return abs(old - new) <= tolerance


def _delta(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return ""
    return f"delta {new - old:+.6g}"


def step_metrics(ws: Workspace, pipeline_run: Run) -> dict[str, dict[str, float]]:
    """Each step's metrics (a cached step: those of the run it was cached from), by node."""
    return {
        step.tags.get(TAG_NODE, step.name): dict(_origin(ws, step).metrics)
        for step in _steps(ws, pipeline_run)
    }


def _steps(ws: Workspace, pipeline_run: Run) -> list[Run]:
    latest: dict[str, Run] = {}
    for step in ws.store.runs.search(
        filter=f"parent_run_id = '{pipeline_run.id}'", order_by=["start_time ASC"], limit=1000
    ):
        latest[step.tags.get(TAG_NODE, step.name)] = step  # later attempts replace earlier
    return list(latest.values())


def _origin(ws: Workspace, run: Run) -> Run:
    source = run.tags.get(TAG_CACHED_FROM)
    if not source:
        return run
    try:
        return ws.store.runs.get(source)
    except NotFoundError:
        return run


def _short(digest: str | None) -> str | None:
    return digest[:16] if digest else None


# -- the whole -------------------------------------------------------------------------------
def reproduce(
    ref: str,
    *,
    workspace: Workspace,
    pipeline: str | None = None,
    tolerance: float = 1e-6,
    relative: bool = False,
    strict: bool = False,
    executor: str = "local",
) -> Report:
    """Compare the present with the record, re-run, compare the results. With `strict`, a
    code or package difference refuses before anything runs."""
    from loopml.pipelines.loader import load_pipeline

    if tolerance < 0:
        raise InvalidArgumentError(f"--tolerance must be 0 or more, got {tolerance}")
    ws = workspace
    source = find_source(ws, ref)
    target = resolve_target(source, pipeline)
    loaded = load_pipeline(target)
    params = recorded_params(loaded, source.pipeline_run)
    folder = Path(target.rpartition(":")[0]).resolve().parent
    recorded_data = dataset_uses(ws, source.pipeline_run)
    before = [
        *compare_code(source.pipeline_run, folder),
        *compare_environment(ws, source.pipeline_run),
        *check_datasets(ws, recorded_data),
    ]
    report = Report(source.version.uri, source.pipeline_run.id, None, target, params, ())
    if strict and before:
        return dataclasses.replace(
            report,
            differences=tuple(dataclasses.replace(d, fails=True) for d in before),
        )
    result, notes = rerun(ws, source, loaded, params, executor)
    new_run = ws.store.runs.get(result.id)
    after: list[Difference] = list(notes)
    if result.status is not RunStatus.FINISHED:
        after.append(
            Difference("run", "pipeline run status", "FINISHED", result.status.value,
                       (result.error or "").strip())
        )  # fmt: skip
    after += compare_datasets(recorded_data, dataset_uses(ws, new_run))
    after += _compare_results(ws, source, new_run, tolerance, relative)
    return dataclasses.replace(
        report, reproduction_run=result.id, differences=tuple(before + after)
    )


def _compare_results(
    ws: Workspace, source: Source, new_run: Run, tolerance: float, relative: bool
) -> list[Difference]:
    found: list[Difference] = []
    old_steps, new_steps = step_metrics(ws, source.pipeline_run), step_metrics(ws, new_run)
    for node in sorted(old_steps):
        found += compare_metrics(
            old_steps[node], new_steps.get(node), f"step {node}", tolerance, relative
        )
    versions = [v for v in _registered(ws, new_run.id) if v.name == source.version.name]
    if not versions:
        found.append(
            Difference("model", f"{source.version.name}: a new version", source.version.uri,
                       "not registered")
        )  # fmt: skip
        return found
    new = max(versions, key=lambda v: v.version)
    found += compare_metrics(
        dict(source.version.metrics), dict(new.metrics), f"model {new.uri}", tolerance, relative
    )
    if new.digest != source.version.digest:  # bytes of a saved model may differ harmlessly
        found.append(
            Difference("model", f"files of {new.uri}", _short(source.version.digest),
                       _short(new.digest), fails=False)
        )  # fmt: skip
    return found
