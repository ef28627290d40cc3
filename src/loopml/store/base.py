"""The metadata store interfaces. Backends (SQL, the REST client) implement every method.

The store is a composition of small interfaces (`store.projects`, `store.runs`, ...) rather
than one class that grows a method per feature, so each backend and its conformance suite
stay small and a later record kind adds an interface instead of widening this one.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from loopml.core.auth import Principal, Role, TokenInfo
from loopml.core.datasets import DatasetVersion, Schema
from loopml.core.entities import ArtifactRef, CodeVersion, Metric, Project, Run, RunInput, RunStatus
from loopml.core.loops import Lease, LoopEvent, LoopState
from loopml.core.models import (
    AuditEvent,
    ModelVersion,
    RegisteredModel,
    Signature,
    VersionStatus,
)
from loopml.core.monitoring import MonitorReport
from loopml.core.serving import (
    Deployment,
    DeploymentRevision,
    Failure,
    Label,
    Prediction,
    Route,
)

RunView = Literal["active", "deleted", "all"]


class RunPage(list[Run]):
    """A page of runs; `next_page_token` is None on the last page."""

    next_page_token: str | None = None

    def __init__(self, runs: Sequence[Run] = (), next_page_token: str | None = None) -> None:
        super().__init__(runs)
        self.next_page_token = next_page_token


class ProjectStore(abc.ABC):
    @abc.abstractmethod
    def get_or_create(self, name: str) -> Project: ...

    @abc.abstractmethod
    def get(self, name: str) -> Project:
        """Raise NotFoundError naming the project when it does not exist."""

    @abc.abstractmethod
    def list(self) -> list[Project]: ...


class RunStore(abc.ABC):
    @abc.abstractmethod
    def create(
        self,
        project: str,
        name: str | None = None,
        *,
        tags: Mapping[str, str] | None = None,
        user: str | None = None,
        parent_run_id: str | None = None,
        code: CodeVersion | None = None,
        python_version: str | None = None,
        env_digest: str | None = None,
        run_id: str | None = None,
        params: Mapping[str, str] | None = None,
        inputs: Sequence[RunInput] = (),
        artifacts: Sequence[ArtifactRef] = (),
        status: RunStatus = RunStatus.RUNNING,
        description: str | None = None,
    ) -> Run:
        """Create a run, creating its project on first use: RUNNING, or already ended with
        a terminal `status` (its end time now). Its params, inputs and artifacts, when
        given, are recorded with it in the same transaction (a cached pipeline step is one
        write)."""

    @abc.abstractmethod
    def get(self, run_id: str) -> Run:
        """Raise NotFoundError naming the id when the run does not exist."""

    @abc.abstractmethod
    def set_status(self, run_id: str, status: RunStatus, error: str | None = None) -> Run:
        """Record a terminal status (with its end time) or RUNNING again."""

    @abc.abstractmethod
    def heartbeat(self, run_ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def set_description(self, run_id: str, description: str | None) -> Run:
        """Replace the run's description (notes); None clears it."""

    @abc.abstractmethod
    def delete(self, run_id: str, *, actor: str = "unknown") -> Run:
        """Soft-delete a run (audited): hidden from `search` unless its view asks for deleted
        runs, kept with everything it logged until `purge`. Deleting it again changes
        nothing."""

    @abc.abstractmethod
    def restore(self, run_id: str, *, actor: str = "unknown") -> Run:
        """Undo `delete` (audited); a run that is not deleted is a ConflictError."""

    @abc.abstractmethod
    def purge(self, deleted_before: datetime, *, actor: str = "unknown") -> list[str]:
        """Remove for good every run soft-deleted before `deleted_before`, with its params,
        metrics, tags, artifact records and inputs (model and dataset versions it produced
        are kept, without the link); returns their ids. One audit event per run."""

    @abc.abstractmethod
    def fail_stale(
        self, timeout_seconds: float, projects: Sequence[str] | None = None
    ) -> list[str]:
        """Mark FAILED every RUNNING run whose heartbeat is older than the timeout, in
        `projects` (None: every project; names of no project match nothing)."""

    @abc.abstractmethod
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        """Params are write-once: the same value again is fine, another is a ConflictError."""

    @abc.abstractmethod
    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None: ...

    @abc.abstractmethod
    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, by step then time."""

    @abc.abstractmethod
    def log_artifact(self, run_id: str, artifact: ArtifactRef) -> None:
        """Record an artifact; logging a name again replaces what it points to."""

    @abc.abstractmethod
    def artifacts(self, run_id: str) -> list[ArtifactRef]: ...

    @abc.abstractmethod
    def get_artifact(self, run_id: str, name: str) -> ArtifactRef: ...

    @abc.abstractmethod
    def add_input(self, run_id: str, run_input: RunInput) -> None: ...

    @abc.abstractmethod
    def inputs(self, run_id: str) -> list[RunInput]: ...

    @abc.abstractmethod
    def producers(self, digest: str) -> list[tuple[str, ArtifactRef]]:
        """(run id, artifact) for every run that logged an artifact with this digest."""

    @abc.abstractmethod
    def consumers(self, digest: str) -> list[tuple[str, RunInput]]:
        """(run id, input) for every run that recorded an input with this digest."""

    @abc.abstractmethod
    def finished_with_tag(
        self, key: str, value: str, *, prefix: str = "", limit: int = 5
    ) -> list[tuple[str, list[ArtifactRef]]]:
        """(run id, artifacts) of the newest FINISHED runs, in every project, tagged `key` =
        `value`, newest first, at most `limit`; only the artifacts whose names start with
        `prefix`, by name. One read: a step cache looks its key up with it."""

    @abc.abstractmethod
    def search(
        self,
        projects: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 100,
        page_token: str | None = None,
        view: RunView = "active",
    ) -> RunPage:
        """Runs matching a filter such as ``metrics.acc > 0.9 and params.C = '1.0'``;
        `view`: the runs not deleted (default), only the deleted ones, or all."""


class DatasetStore(abc.ABC):
    @abc.abstractmethod
    def create_version(
        self,
        name: str,
        *,
        digest: str,
        files: int,
        size: int,
        format: str,
        schema: Schema | None = None,
        profile_digest: str | None = None,
        producer_run_id: str | None = None,
    ) -> DatasetVersion:
        """Record the next version of `name` (1, 2, 3...; never the same number twice, even
        when processes race). If the latest version already has this digest, return it with
        `created=False` instead."""

    @abc.abstractmethod
    def get_version(self, name: str, version: int | str = "latest") -> DatasetVersion:
        """A version by number or "latest"; NotFoundError names the dataset or version."""

    @abc.abstractmethod
    def list_versions(self, name: str) -> list[DatasetVersion]: ...

    @abc.abstractmethod
    def list_latest(self) -> list[DatasetVersion]:
        """The latest version of every dataset, by name."""

    @abc.abstractmethod
    def find_by_digest(self, digest: str) -> list[DatasetVersion]: ...

    @abc.abstractmethod
    def produced_by(self, run_id: str) -> list[DatasetVersion]:
        """Versions added while `run_id` was the active run."""

    @abc.abstractmethod
    def consumers(self, name: str, version: int) -> list[str]:
        """Ids of runs that recorded this version as an input."""

    @abc.abstractmethod
    def delete_version(self, name: str, version: int, *, actor: str = "unknown") -> None:
        """Remove one version (audited); its number is never given again. Runs that used
        it keep their input record (name, version, digest)."""


class ModelStore(abc.ABC):
    @abc.abstractmethod
    def create_version(
        self,
        name: str,
        *,
        flavor: str,
        digest: str,
        size: int,
        signature: Signature | None = None,
        run_id: str | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        trusted_types: Sequence[str] = (),
    ) -> ModelVersion:
        """Record the next version of `name` (1, 2, 3...; never twice, even when racing)."""

    @abc.abstractmethod
    def get_version(self, name: str, version: int | str) -> ModelVersion:
        """NotFoundError names the model or the version."""

    @abc.abstractmethod
    def latest_version(self, name: str) -> ModelVersion:
        """The newest version that is not archived."""

    @abc.abstractmethod
    def list_versions(self, name: str) -> list[ModelVersion]: ...

    @abc.abstractmethod
    def versions_from_run(self, run_id: str) -> list[ModelVersion]: ...

    @abc.abstractmethod
    def update_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        status: VersionStatus | None = None,
        actor: str = "unknown",
    ) -> ModelVersion:
        """Archiving a version that an alias points at is a ConflictError."""

    @abc.abstractmethod
    def delete_version(self, name: str, version: int, *, actor: str = "unknown") -> None:
        """Refused (ConflictError) while an alias points at the version."""

    @abc.abstractmethod
    def get_model(self, name: str) -> RegisteredModel: ...

    @abc.abstractmethod
    def list_models(self) -> list[RegisteredModel]: ...

    @abc.abstractmethod
    def update_model(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> RegisteredModel: ...

    @abc.abstractmethod
    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str, reason: str | None = None
    ) -> int | None:
        """Point `alias` at `version` (writing an audit event); returns the previous one."""

    @abc.abstractmethod
    def delete_alias(self, name: str, alias: str, *, actor: str, reason: str | None = None) -> int:
        """Remove the alias (writing an audit event); returns the version it pointed at."""

    @abc.abstractmethod
    def get_alias(self, name: str, alias: str) -> ModelVersion: ...


class AuditStore(abc.ABC):
    @abc.abstractmethod
    def record(self, actor: str, action: str, target: str, details: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def events(
        self,
        target: str | None = None,
        action: str | None = None,
        limit: int = 100,
        *,
        action_prefix: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
    ) -> list[AuditEvent]:
        """Newest first. `target`, `action` and `actor` match exactly, `action_prefix` the
        start of the action (`deployment.` for every deployment change); `since`: events at or
        after that time."""


class DeploymentStore(abc.ABC):
    @abc.abstractmethod
    def create(
        self, name: str, routes: Sequence[Route], *, actor: str, reason: str | None = None
    ) -> Deployment:
        """ConflictError when the name is taken."""

    @abc.abstractmethod
    def get(self, name: str) -> Deployment: ...

    @abc.abstractmethod
    def list(self) -> list[Deployment]: ...

    @abc.abstractmethod
    def revision(self, name: str) -> int:
        """The current revision alone: what a serving process polls."""

    @abc.abstractmethod
    def update(
        self,
        name: str,
        routes: Sequence[Route],
        *,
        actor: str,
        action: str,
        reason: str | None = None,
        expected_revision: int | None = None,
    ) -> Deployment:
        """Replace the routes (a new revision, kept with who, what and why, and audited).
        With `expected_revision`, a concurrent change since then is a ConflictError."""

    @abc.abstractmethod
    def revisions(self, name: str) -> list[DeploymentRevision]:
        """Every revision, oldest first."""


class PredictionStore(abc.ABC):
    @abc.abstractmethod
    def log(self, predictions: Sequence[Prediction]) -> None: ...

    @abc.abstractmethod
    def add_labels(self, labels: Sequence[Label], *, deployment: str | None = None) -> list[str]:
        """Store labels; return the prediction ids that are unknown (not stored). With
        `deployment`, a prediction of another deployment counts as unknown."""

    @abc.abstractmethod
    def query(
        self,
        *,
        deployment: str | None = None,
        model: str | None = None,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        labeled: bool = False,
        limit: int = 100_000,
        newest: bool = False,
    ) -> list[Prediction]:
        """Predictions oldest first, with their labels; `labeled` keeps only labeled ones.
        With `newest`, the `limit` most recent ones (still returned oldest first)."""

    @abc.abstractmethod
    def count(self, deployment: str) -> int: ...

    @abc.abstractmethod
    def log_failures(self, failures: Sequence[Failure]) -> None: ...

    @abc.abstractmethod
    def failure_count(
        self, deployment: str, *, model: str, version: int, since: datetime | None = None
    ) -> int:
        """Requests that version failed to answer for the deployment since `since`."""

    @abc.abstractmethod
    def get(self, prediction_id: str) -> Prediction:
        """One prediction with its label; NotFoundError naming the id when unknown."""

    @abc.abstractmethod
    def delete_before(self, deployment: str, before: datetime, *, actor: str = "unknown") -> int:
        """Delete the deployment's predictions logged before `before`, with their labels and
        failed calls (audited when any); returns how many predictions went."""

    @abc.abstractmethod
    def forget(
        self,
        deployment: str,
        column: str,
        value: str | int | float | bool,
        *,
        actor: str = "unknown",
    ) -> dict[str, int]:
        """Delete the deployment's predictions whose feature `column` equals `value` (the
        same value, or the same text: 42 matches "42"), with their labels; returns
        {"predictions": n, "labels": m}. Audited with the column and counts, never the
        value."""


class RetentionStore(abc.ABC):
    """What garbage collection asks the metadata: every blob digest it still refers to."""

    @abc.abstractmethod
    def referenced_digests(self) -> list[str]:
        """Digests of run artifacts, code diffs and environments (deleted runs included until
        purged), dataset manifests and profiles, and model versions, each once. Blobs these
        name may name more (a folder's manifest, a dataset's files)."""


class MonitorStore(abc.ABC):
    @abc.abstractmethod
    def save(self, report: MonitorReport) -> None: ...

    @abc.abstractmethod
    def get(self, report_id: str) -> MonitorReport: ...

    @abc.abstractmethod
    def list(self, target: str, limit: int = 100) -> list[MonitorReport]:
        """Newest first."""


class LoopStore(abc.ABC):
    """The continuous-training loop's state per deployment, its timeline, and leases."""

    @abc.abstractmethod
    def get(self, deployment: str) -> LoopState:
        """The stored state, or a fresh idle one (revision 0) when there is none."""

    @abc.abstractmethod
    def list(self) -> list[LoopState]: ...

    @abc.abstractmethod
    def save(self, state: LoopState, event: LoopEvent | None = None) -> LoopState:
        """Store `state` if the stored revision is still `state.revision` (else ConflictError);
        return it with the next revision. `event` is appended to the timeline atomically."""

    @abc.abstractmethod
    def events(self, deployment: str | None = None, limit: int = 100) -> list[LoopEvent]:
        """The timeline, oldest first (the newest `limit` entries)."""

    @abc.abstractmethod
    def acquire(self, deployment: str, holder: str, ttl: float) -> Lease:
        """Take or renew the lease for `ttl` seconds unless another holder's has not expired;
        return the lease in force (its holder says who won)."""

    @abc.abstractmethod
    def release(self, deployment: str, holder: str) -> None:
        """Give the lease up if `holder` holds it."""


class AuthStore(abc.ABC):
    """Users, their roles per project, and API tokens (only a hash of each is kept). Served by
    no remote API: a server reads it to authenticate; admins manage it on the server's host."""

    @abc.abstractmethod
    def create_token(
        self, user: str, *, role: Role | None = None, project: str = "*", note: str | None = None
    ) -> str:
        """A new token for `user` (created if new), granting `role` on `project` if given.
        The token text is returned once and never stored."""

    @abc.abstractmethod
    def authenticate(self, token: str) -> Principal:
        """The user and grants behind a token; AuthenticationError if unknown or revoked."""

    @abc.abstractmethod
    def grant(self, user: str, role: Role, project: str = "*") -> None: ...

    @abc.abstractmethod
    def revoke(self, token_id: str) -> None: ...

    @abc.abstractmethod
    def tokens(self, user: str | None = None) -> list[TokenInfo]: ...

    @abc.abstractmethod
    def has_users(self) -> bool: ...


class MetadataStore(abc.ABC):
    """Every record interface of one backend, sharing its connection."""

    projects: ProjectStore
    runs: RunStore
    datasets: DatasetStore
    models: ModelStore
    audit: AuditStore
    deployments: DeploymentStore
    predictions: PredictionStore
    monitoring: MonitorStore
    loops: LoopStore
    retention: RetentionStore
    auth: AuthStore | None = None  # local stores only

    @abc.abstractmethod
    def close(self) -> None: ...
