"""Lineage: what a run, an artifact digest or a dataset version came from, and what used it.

Links come from records every layer already writes: a run's inputs (artifact digests with the
run that produced them, dataset versions), its outputs (artifacts), the datasets it added,
pipeline runs and their step runs, and cache hits pointing at the run that computed the value.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from loopml.core.entities import Run
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.pipelines import KIND_PIPELINE, TAG_CACHED_FROM, TAG_KIND
from loopml.workspace import Workspace

MAX_DEPTH = 25
MAX_NODES = 2_000
CACHE_HIT = "cache hit of"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_PREFIXES = ("dataset:", "model:")


@dataclasses.dataclass(frozen=True)
class LineageNode:
    kind: str  # "run" | "artifact" | "dataset" | "model"
    id: str  # run id, digest, dataset "name@version", or model "name/version"
    label: str
    relation: str = ""  # how this node links to its parent in the tree
    children: tuple[LineageNode, ...] = ()
    repeated: bool = False  # already shown elsewhere in the tree: not expanded again

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "label": self.label,
            "relation": self.relation,
            "repeated": self.repeated,
            "children": [child.to_dict() for child in self.children],
        }

    def walk(self) -> Iterator[LineageNode]:
        yield self
        for child in self.children:
            yield from child.walk()


def lineage(
    target: str, *, direction: str = "up", workspace: Workspace | None = None
) -> LineageNode:
    """The lineage tree of a run id, an artifact digest, a dataset `name@version` or a model
    `name/version` or `name@alias` (prefix `dataset:` or `model:` when a name is both)."""
    if direction not in ("up", "down"):
        raise InvalidArgumentError(f"direction must be 'up' or 'down', got {direction!r}")
    tracer = _Tracer(workspace or Workspace.current(), direction)
    return tracer.expand(tracer.resolve(target), "", 0)


@dataclasses.dataclass(frozen=True)
class _Ref:
    kind: str
    id: str


class _Tracer:
    def __init__(self, workspace: Workspace, direction: str) -> None:
        self.workspace = workspace
        self.store = workspace.store
        self.direction = direction
        self.seen: set[_Ref] = set()

    def resolve(self, target: str) -> _Ref:
        text = target.strip()
        if _RUN_ID.match(text):
            self.store.runs.get(text)
            return _Ref("run", text)
        if _DIGEST.match(text):
            datasets = self.store.datasets.find_by_digest(text)
            if datasets and not self.store.runs.producers(text):
                return _Ref("dataset", f"{datasets[0].name}@{datasets[0].version}")
            if not self._digest_known(text):
                raise NotFoundError(f"no run, artifact or dataset has digest {text}")
            return _Ref("artifact", text)
        kind, _, rest = text.partition(":") if text.startswith(_PREFIXES) else ("", "", text)
        if kind in ("", "dataset") and "@" in rest:
            name, _, version = rest.rpartition("@")
            if kind or version.isdigit() or version == "latest":
                try:
                    record = self.store.datasets.get_version(name, version or "latest")
                    return _Ref("dataset", f"{record.name}@{record.version}")
                except NotFoundError:
                    if kind:
                        raise
        if kind in ("", "model") and ("@" in rest or "/" in rest or kind):
            from loopml.registry.api import resolve

            return _Ref("model", resolve(rest, workspace=self.workspace).uri)
        raise InvalidArgumentError(
            f"{target!r} is not a run id (32 hex digits), a digest (64 hex digits), a "
            "dataset NAME@VERSION or a model NAME/VERSION or NAME@ALIAS"
        )

    def _digest_known(self, digest: str) -> bool:
        runs = self.store.runs
        return bool(
            runs.producers(digest)
            or runs.consumers(digest)
            or self.store.datasets.find_by_digest(digest)
        )

    def expand(self, ref: _Ref, relation: str, depth: int) -> LineageNode:
        label = self._label(ref)
        leaf = relation == CACHE_HIT  # the original run's own lineage repeats this one's
        if leaf or ref in self.seen or depth >= MAX_DEPTH or len(self.seen) >= MAX_NODES:
            return LineageNode(ref.kind, ref.id, label, relation, repeated=ref in self.seen)
        self.seen.add(ref)
        links = self._up(ref) if self.direction == "up" else self._down(ref)
        children = tuple(self.expand(child, why, depth + 1) for why, child in links)
        return LineageNode(ref.kind, ref.id, label, relation, children)

    # -- links ------------------------------------------------------------------------------
    def _up(self, ref: _Ref) -> list[tuple[str, _Ref]]:
        if ref.kind == "run":
            run = self.store.runs.get(ref.id)
            links = [("step", _Ref("run", r.id)) for r in self._steps(run)]
            if run.tags.get(TAG_CACHED_FROM):
                links.append((CACHE_HIT, _Ref("run", run.tags[TAG_CACHED_FROM])))
            for item in self.store.runs.inputs(ref.id):
                if item.kind == "dataset":
                    dataset = _Ref("dataset", f"{item.name}@{item.version}")
                    links.append((f"input {item.name}", dataset))
                elif item.digest:
                    links.append((f"input {item.name}", _Ref("artifact", item.digest)))
            return links
        if ref.kind == "model":
            version = self._model(ref)
            return [("trained by", _Ref("run", version.run_id))] if version.run_id else []
        if ref.kind == "artifact":
            producers = self.store.runs.producers(ref.id)
            originals = [p for p in producers if not self._is_cache_hit(p[0])] or producers
            return [(f"output {a.name}", _Ref("run", run_id)) for run_id, a in originals[:1]]
        version = self._dataset(ref)
        if version.producer_run_id:
            return [("added by", _Ref("run", version.producer_run_id))]
        return []

    def _down(self, ref: _Ref) -> list[tuple[str, _Ref]]:
        if ref.kind == "run":
            run = self.store.runs.get(ref.id)
            links = [("step", _Ref("run", r.id)) for r in self._steps(run)]
            for artifact in self.store.runs.artifacts(ref.id):
                links.append((f"output {artifact.name}", _Ref("artifact", artifact.digest)))
            for version in self.store.datasets.produced_by(ref.id):
                links.append(("added", _Ref("dataset", f"{version.name}@{version.version}")))
            for model in self.store.models.versions_from_run(ref.id):
                links.append(("registered", _Ref("model", model.uri)))
            return links
        if ref.kind == "model":
            return []  # deployments and predictions link here once they exist
        if ref.kind == "artifact":
            return [
                (f"input {item.name} of", _Ref("run", run_id))
                for run_id, item in self.store.runs.consumers(ref.id)
            ]
        version = self._dataset(ref)
        return [
            ("input of", _Ref("run", run_id))
            for run_id in self.store.datasets.consumers(version.name, version.version)
        ]

    # -- records ----------------------------------------------------------------------------
    def _steps(self, run: Run) -> list[Run]:
        if run.tags.get(TAG_KIND) != KIND_PIPELINE:
            return []
        query = f"parent_run_id = '{run.id}'"
        return list(self.store.runs.search(filter=query, order_by=["start_time ASC"], limit=1000))

    def _is_cache_hit(self, run_id: str) -> bool:
        return bool(self.store.runs.get(run_id).tags.get(TAG_CACHED_FROM))

    def _model(self, ref: _Ref) -> Any:
        name, _, version = ref.id.rpartition("/")
        return self.store.models.get_version(name, _number(ref, version))

    def _dataset(self, ref: _Ref) -> Any:
        name, _, version = ref.id.rpartition("@")
        return self.store.datasets.get_version(name, _number(ref, version))

    def _label(self, ref: _Ref) -> str:
        if ref.kind == "run":
            try:
                run = self.store.runs.get(ref.id)
            except NotFoundError:
                return f"run {ref.id} (deleted)"
            commit = f", commit {run.code.commit[:10]}" if run.code.commit else ""
            return f"run {run.id[:12]} {run.name} [{run.status.value}] ({run.project}{commit})"
        if ref.kind == "artifact":
            return f"artifact {ref.id[:16]}"
        if ref.kind == "model":
            model = self._model(ref)
            aliases = f" @{', @'.join(model.aliases)}" if model.aliases else ""
            return f"model {ref.id} ({model.flavor}{aliases})"
        version = self._dataset(ref)
        return f"dataset {ref.id} (digest {version.digest[:16]})"


def _number(ref: _Ref, version: str) -> int:
    """A stored version number (a run's input may name one that is not a number)."""
    if not (version.isascii() and version.isdigit()) or len(version) > 18:
        raise NotFoundError(f"{ref.kind} {ref.id!r}: {version!r} is not a version number")
    return int(version)
