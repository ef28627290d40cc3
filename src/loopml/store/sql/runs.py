"""Runs, params, metrics, tags, artifacts and inputs in SQL.

Child tables key on the run's integer `pk`; the public 32-digit `id` is looked up once and
cached (a run's pk never changes), so a metric flush costs no extra query.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.entities import (
    ArtifactRef,
    CodeVersion,
    Metric,
    Run,
    RunInput,
    RunStatus,
    freeze,
)
from loopml.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.core.ids import ms_to_datetime, new_id, now_ms
from loopml.core.names import validate_artifact_name
from loopml.store import filters, limits
from loopml.store.base import RunPage, RunStore, RunView
from loopml.store.sql import run_lifecycle as lifecycle
from loopml.store.sql import schema as t
from loopml.store.sql import search
from loopml.store.sql.dialect import insert_ignore, insert_metric_rows
from loopml.store.sql.engine import read, write
from loopml.store.sql.projects import SqlProjectStore

_RUN_COLUMNS = (*t.runs.c, t.projects.c.name.label("project_name"))
_PK_CACHE_LIMIT = 100_000


def _metric_value(value: float | None) -> float:
    return math.nan if value is None else value


def _stored_value(value: float) -> float | None:
    return None if math.isnan(value) else value


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class SqlRunStore(RunStore):
    def __init__(self, engine: Engine, projects: SqlProjectStore) -> None:
        self._engine = engine
        self._projects = projects
        self._pks: dict[str, int] = {}

    def _pk(self, conn: Connection, run_id: str) -> int:
        """The integer key of a run, raising NotFoundError naming the id when there is none."""
        pk = self._pks.get(run_id)
        if pk is None:
            pk = conn.execute(sa.select(t.runs.c.pk).where(t.runs.c.id == run_id)).scalar()
            if pk is None:
                raise NotFoundError(f"run {run_id!r} not found")
            self._remember(run_id, pk)
        return pk

    # -- runs -------------------------------------------------------------------------------
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
        limits.check_text("run name", name, limits.MAX_NAME_LENGTH)
        limits.check_text("description", description)
        limits.check_text("user", user, limits.MAX_NAME_LENGTH)
        limits.check_text("python version", python_version, 64)
        limits.check_tags(tags)
        if params:
            limits.check_params(params)
        for artifact in artifacts:
            validate_artifact_name(artifact.name)
        status = RunStatus(status)
        project_record = self._projects.get_or_create(project)
        run_id = run_id or new_id()
        code = code or CodeVersion()
        now = now_ms()
        end = now if status.is_terminal else None
        row = {
            "id": run_id,
            "project_id": project_record.id,
            "name": name or f"run-{run_id[:8]}",
            "status": status.value,
            "start_ms": now,
            "end_ms": end,
            "heartbeat_ms": now,
            "user_name": user,
            "parent_run_id": parent_run_id,
            "code_commit": code.commit,
            "code_diff_digest": code.diff_digest,
            "code_repo": code.repo_root,
            "python_version": python_version,
            "env_digest": env_digest,
            "description": description,
        }

        # A name logged twice keeps the last, as log_artifact does.
        named = {artifact.name: artifact for artifact in artifacts}
        unique: dict[tuple[str, str, str], dict[str, Any]] = {}
        for run_input in inputs:  # the first of the same (kind, name, version), as add_input
            unique.setdefault(_input_key(run_input), _input_row(run_input))
        input_rows = list(unique.values())

        def work(conn: Connection) -> int:
            pk = conn.execute(t.runs.insert().returning(t.runs.c.pk), row).scalar_one()
            if tags:
                conn.execute(t.tags.insert(), _keyed_rows(pk, tags))
            if params:
                conn.execute(t.params.insert(), _keyed_rows(pk, params))
            if input_rows:
                conn.execute(t.run_inputs.insert(), [{"run_pk": pk, **r} for r in input_rows])
            if named:
                conn.execute(
                    t.run_artifacts.insert(), [_artifact_row(pk, a) for a in named.values()]
                )
            return pk

        pk = write(self._engine, work)
        self._remember(run_id, pk)
        # The record from what was written (nothing else can have changed a new run yet).
        return Run(
            id=run_id,
            project=project_record.name,
            name=row["name"],
            status=status,
            start_time=ms_to_datetime(now),  # type: ignore[arg-type]
            end_time=ms_to_datetime(end),
            params=freeze(dict(params or {})),
            metrics=freeze({}),
            tags=freeze(dict(tags or {})),
            user=user,
            parent_run_id=parent_run_id,
            code=code,
            python_version=python_version,
            env_digest=env_digest,
            heartbeat_time=ms_to_datetime(now),
            description=description,
        )

    def _remember(self, run_id: str, pk: int) -> None:
        if len(self._pks) >= _PK_CACHE_LIMIT:
            self._pks.clear()
        self._pks[run_id] = pk

    def get(self, run_id: str) -> Run:
        def work(conn: Connection) -> Run:
            runs = self._hydrate(conn, self._run_rows(conn, t.runs.c.id.in_([run_id])))
            if not runs:
                raise NotFoundError(f"run {run_id!r} not found")
            return runs[0]

        return read(self._engine, work)

    def _run_rows(self, conn: Connection, where: sa.ColumnElement[bool]) -> list[sa.Row]:
        query = (
            sa.select(*_RUN_COLUMNS)
            .join(t.projects, t.projects.c.id == t.runs.c.project_id)
            .where(where)
        )
        return list(conn.execute(query))

    def _hydrate(self, conn: Connection, rows: Sequence[sa.Row]) -> list[Run]:
        """Turn run rows into records with their params, latest metrics and tags (3 queries)."""
        pks = [row.pk for row in rows]
        if not pks:
            return []
        params = _group(conn, t.params, pks, lambda r: r.value)
        tags = _group(conn, t.tags, pks, lambda r: r.value)
        metrics = _group(conn, t.latest_metrics, pks, lambda r: _metric_value(r.value))
        return [_run_record(row, params[row.pk], metrics[row.pk], tags[row.pk]) for row in rows]

    def set_status(self, run_id: str, status: RunStatus, error: str | None = None) -> Run:
        status = RunStatus(status)
        limits.check_text("error", error)
        now = now_ms()
        values = {
            "status": status.value,
            "end_ms": now if status.is_terminal else None,
            "heartbeat_ms": now,
            "error": error,
        }

        def work(conn: Connection) -> Run:
            result = conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(values))
            if result.rowcount == 0:
                raise NotFoundError(f"run {run_id!r} not found")
            return self._hydrate(conn, self._run_rows(conn, t.runs.c.id == run_id))[0]

        return write(self._engine, work)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        if not run_ids:
            return
        query = (
            t.runs.update()
            .where(t.runs.c.id.in_(list(run_ids)), t.runs.c.status == RunStatus.RUNNING.value)
            .values(heartbeat_ms=now_ms())
        )
        write(self._engine, lambda conn: conn.execute(query))

    def fail_stale(
        self, timeout_seconds: float, projects: Sequence[str] | None = None
    ) -> list[str]:
        if not isinstance(timeout_seconds, int | float) or not timeout_seconds > 0:
            raise InvalidArgumentError(
                "the heartbeat timeout must be a positive number of seconds, got "
                f"{timeout_seconds!r}"
            )
        if projects is not None and not projects:
            return []
        cutoff = now_ms() - int(timeout_seconds * 1000)
        stale = sa.and_(t.runs.c.status == RunStatus.RUNNING.value, t.runs.c.heartbeat_ms < cutoff)
        if projects is not None:
            named = sa.select(t.projects.c.id).where(t.projects.c.name.in_(list(projects)))
            stale = sa.and_(stale, t.runs.c.project_id.in_(named))
        probe = sa.select(t.runs.c.id).where(stale)
        if not read(self._engine, lambda conn: conn.execute(probe.limit(1)).first()):
            return []  # the common case stays a read: no write lock taken at every open

        def work(conn: Connection) -> list[str]:
            ids = list(conn.execute(probe).scalars())
            if ids:
                conn.execute(
                    t.runs.update()
                    .where(t.runs.c.id.in_(ids), stale)
                    .values(
                        status=RunStatus.FAILED.value,
                        end_ms=t.runs.c.heartbeat_ms,
                        error=f"process lost: no heartbeat for over {timeout_seconds:g} s",
                    )
                )
            return ids

        return write(self._engine, work)

    # -- description and deletion (in run_lifecycle) ----------------------------------------
    def set_description(self, run_id: str, description: str | None) -> Run:
        limits.check_text("description", description)
        write(self._engine, lambda conn: lifecycle.update(conn, run_id, description=description))
        return self.get(run_id)

    def delete(self, run_id: str, *, actor: str = "unknown") -> Run:
        write(self._engine, lambda conn: lifecycle.delete(conn, run_id, actor))
        return self.get(run_id)

    def restore(self, run_id: str, *, actor: str = "unknown") -> Run:
        write(self._engine, lambda conn: lifecycle.restore(conn, run_id, actor))
        return self.get(run_id)

    def purge(self, deleted_before: datetime, *, actor: str = "unknown") -> list[str]:
        purged = write(self._engine, lambda conn: lifecycle.purge(conn, deleted_before, actor))
        for run_id in purged:
            self._pks.pop(run_id, None)
        return purged

    # -- params, metrics, tags --------------------------------------------------------------
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        if not params:
            return
        limits.check_params(params)

        def work(conn: Connection) -> None:
            pk = self._pk(conn, run_id)
            conn.execute(insert_ignore(conn, t.params), _keyed_rows(pk, params))
            query = sa.select(t.params.c.key, t.params.c.value).where(
                t.params.c.run_pk == pk, t.params.c.key.in_(list(params))
            )
            stored = {key: value for key, value in conn.execute(query)}
            for key, value in params.items():
                if stored.get(key) != value:
                    raise ConflictError(
                        f"param {key!r} of run {run_id} is already {stored.get(key)!r}; params "
                        f"are write-once, so {value!r} was not logged (use a tag or a metric)"
                    )

        write(self._engine, work)

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        if not metrics:
            return
        limits.check_metrics(metrics)

        def work(conn: Connection) -> None:
            pk = self._pk(conn, run_id)
            ms: dict[datetime, int] = {}  # points logged together share one datetime object
            rows = [
                (pk, m.key, _stored_value(m.value), m.step, ms.get(m.timestamp) or
                 ms.setdefault(m.timestamp, _ms(m.timestamp)))
                for m in metrics
            ]  # fmt: skip
            insert_metric_rows(conn, rows, _latest_rows(rows))

        write(self._engine, work)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        if not tags:
            return
        limits.check_tags(tags)

        def work(conn: Connection) -> None:
            pk = self._pk(conn, run_id)
            conn.execute(t.tags.delete().where(t.tags.c.run_pk == pk, t.tags.c.key.in_(list(tags))))
            conn.execute(t.tags.insert(), _keyed_rows(pk, tags))

        write(self._engine, work)

    def delete_tag(self, run_id: str, key: str) -> None:
        limits.check_keys("tag", [key])

        def work(conn: Connection) -> None:
            pk = self._pk(conn, run_id)
            result = conn.execute(t.tags.delete().where(t.tags.c.run_pk == pk, t.tags.c.key == key))
            if result.rowcount == 0:
                raise NotFoundError(f"run {run_id} has no tag {key!r}")

        write(self._engine, work)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        limits.check_text("metric key", key)

        def work(conn: Connection) -> list[Metric]:
            query = (
                sa.select(t.metrics.c.value, t.metrics.c.step, t.metrics.c.ts_ms)
                .where(t.metrics.c.run_pk == self._pk(conn, run_id), t.metrics.c.key == key)
                .order_by(t.metrics.c.step, t.metrics.c.ts_ms, t.metrics.c.id)
            )
            return [
                Metric(key, _metric_value(v), step, ms_to_datetime(ts))  # type: ignore[arg-type]
                for v, step, ts in conn.execute(query)
            ]

        return read(self._engine, work)

    # -- artifacts and inputs ---------------------------------------------------------------
    def log_artifact(self, run_id: str, artifact: ArtifactRef) -> None:
        validate_artifact_name(artifact.name)  # as tracking does: a server's clients skip it

        def work(conn: Connection) -> None:
            pk = self._pk(conn, run_id)
            conn.execute(
                t.run_artifacts.delete().where(
                    t.run_artifacts.c.run_pk == pk, t.run_artifacts.c.name == artifact.name
                )
            )
            conn.execute(t.run_artifacts.insert(), _artifact_row(pk, artifact))

        write(self._engine, work)

    def artifacts(self, run_id: str) -> list[ArtifactRef]:
        def work(conn: Connection) -> list[ArtifactRef]:
            query = (
                sa.select(t.run_artifacts)
                .where(t.run_artifacts.c.run_pk == self._pk(conn, run_id))
                .order_by(t.run_artifacts.c.name)
            )
            return [_artifact_record(row) for row in conn.execute(query)]

        return read(self._engine, work)

    def get_artifact(self, run_id: str, name: str) -> ArtifactRef:
        def work(conn: Connection) -> ArtifactRef:
            query = sa.select(t.run_artifacts).where(
                t.run_artifacts.c.run_pk == self._pk(conn, run_id), t.run_artifacts.c.name == name
            )
            row = conn.execute(query).first()
            if row is None:
                raise NotFoundError(f"run {run_id} has no artifact {name!r}")
            return _artifact_record(row)

        return read(self._engine, work)

    def add_input(self, run_id: str, run_input: RunInput) -> None:
        def work(conn: Connection) -> None:
            row = {"run_pk": self._pk(conn, run_id), **_input_row(run_input)}
            conn.execute(insert_ignore(conn, t.run_inputs), [row])

        write(self._engine, work)

    def inputs(self, run_id: str) -> list[RunInput]:
        def work(conn: Connection) -> list[RunInput]:
            query = sa.select(t.run_inputs).where(t.run_inputs.c.run_pk == self._pk(conn, run_id))
            return [RunInput(r.kind, r.name, r.version, r.digest) for r in conn.execute(query)]

        return read(self._engine, work)

    def producers(self, digest: str) -> list[tuple[str, ArtifactRef]]:
        def work(conn: Connection) -> list[tuple[str, ArtifactRef]]:
            query = (
                sa.select(t.runs.c.id, t.run_artifacts)
                .join(t.runs, t.runs.c.pk == t.run_artifacts.c.run_pk)
                .where(t.run_artifacts.c.digest == digest)
                .order_by(t.run_artifacts.c.created_ms, t.runs.c.id)
            )
            return [(row.id, _artifact_record(row)) for row in conn.execute(query)]

        return read(self._engine, work)

    def consumers(self, digest: str) -> list[tuple[str, RunInput]]:
        def work(conn: Connection) -> list[tuple[str, RunInput]]:
            i = t.run_inputs
            query = (
                sa.select(t.runs.c.id, i.c.kind, i.c.name, i.c.version, i.c.digest)
                .join(t.runs, t.runs.c.pk == i.c.run_pk)
                .where(i.c.digest == digest)
                .order_by(t.runs.c.start_ms, t.runs.c.id)
            )
            return [
                (r.id, RunInput(r.kind, r.name, r.version, r.digest)) for r in conn.execute(query)
            ]

        return read(self._engine, work)

    def finished_with_tag(
        self, key: str, value: str, *, prefix: str = "", limit: int = 5
    ) -> list[tuple[str, list[ArtifactRef]]]:
        limits.check_keys("tag", [key])
        limit = search.check_limit(limit)
        found_query = (
            sa.select(t.runs.c.pk, t.runs.c.id)
            .join(t.tags, t.tags.c.run_pk == t.runs.c.pk)
            .where(
                t.tags.c.key == key,
                t.tags.c.value == value,
                t.runs.c.status == RunStatus.FINISHED.value,
                t.runs.c.deleted_ms.is_(None),
            )
            .order_by(t.runs.c.start_ms.desc(), t.runs.c.pk.desc())
            .limit(limit)
        )

        def work(conn: Connection) -> list[tuple[str, list[ArtifactRef]]]:
            found = list(conn.execute(found_query))
            if not found:
                return []
            a = t.run_artifacts
            query = sa.select(a).where(a.c.run_pk.in_([row.pk for row in found]))
            if prefix:
                query = query.where(a.c.name.startswith(prefix, autoescape=True))
            grouped: dict[int, list[ArtifactRef]] = defaultdict(list)
            for row in conn.execute(query.order_by(a.c.run_pk, a.c.name)):
                grouped[row.run_pk].append(_artifact_record(row))
            return [(row.id, grouped[row.pk]) for row in found]

        return read(self._engine, work)

    # -- search -----------------------------------------------------------------------------
    def search(
        self,
        projects: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 100,
        page_token: str | None = None,
        view: RunView = "active",
    ) -> RunPage:
        limit = search.check_limit(limit)
        shown = lifecycle.view_condition(view)
        offset = search.decode_page_token(page_token)
        expr = filters.parse_filter(filter)
        order = filters.parse_order_by(list(order_by or ()))
        query = sa.select(t.runs.c.pk).join(t.projects, t.projects.c.id == t.runs.c.project_id)

        def work(conn: Connection) -> RunPage:
            conditions = [] if shown is None else [shown]
            if projects is not None:
                conditions.append(t.runs.c.project_id.in_(self._projects.ids(conn, projects)))
            if expr is not None:
                conditions.append(search.condition(expr))
            ordered, clauses = search.ordering(query.where(*conditions), order)
            page = ordered.order_by(*clauses).limit(limit + 1).offset(offset)
            pks = list(conn.execute(page).scalars())
            has_more = len(pks) > limit
            pks = pks[:limit]
            rows = self._run_rows(conn, t.runs.c.pk.in_(pks))
            runs = self._hydrate(conn, rows)
            by_pk = {row.pk: run for row, run in zip(rows, runs, strict=True)}
            token = search.encode_page_token(offset + limit) if has_more else None
            return RunPage([by_pk[pk] for pk in pks], token)

        return read(self._engine, work)


def _keyed_rows(pk: int, values: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"run_pk": pk, "key": key, "value": value} for key, value in values.items()]


def _group(
    conn: Connection, table: sa.Table, pks: list[int], value_of: Callable[[sa.Row], Any]
) -> dict[int, dict[str, Any]]:
    grouped: dict[int, dict[str, Any]] = defaultdict(dict)
    for row in conn.execute(sa.select(table).where(table.c.run_pk.in_(pks))):
        grouped[row.run_pk][row.key] = value_of(row)
    return grouped


def _latest_rows(rows: Iterable[tuple]) -> list[tuple]:
    """The newest point per key within one batch, by (step, timestamp, order logged)."""
    latest: dict[str, tuple] = {}
    for row in rows:
        current = latest.get(row[1])
        if current is None or (row[3], row[4]) >= (current[3], current[4]):
            latest[row[1]] = row
    return [latest[key] for key in sorted(latest)]  # sorted: a stable lock order across writers


def _run_record(row: sa.Row, params: dict, metrics: dict, tags: dict) -> Run:
    return Run(
        id=row.id,
        project=row.project_name,
        name=row.name,
        status=RunStatus(row.status),
        start_time=ms_to_datetime(row.start_ms),  # type: ignore[arg-type]
        end_time=ms_to_datetime(row.end_ms),
        params=freeze(params),
        metrics=freeze(metrics),
        tags=freeze(tags),
        error=row.error,
        user=row.user_name,
        parent_run_id=row.parent_run_id,
        code=CodeVersion(row.code_commit, row.code_diff_digest, row.code_repo),
        python_version=row.python_version,
        env_digest=row.env_digest,
        heartbeat_time=ms_to_datetime(row.heartbeat_ms),
        description=row.description,
        deleted_time=ms_to_datetime(row.deleted_ms),
    )


def _artifact_row(pk: int, artifact: ArtifactRef) -> dict[str, Any]:
    return {
        "run_pk": pk,
        "name": artifact.name,
        "digest": artifact.digest,
        "serializer": artifact.serializer,
        "size": artifact.size,
        "created_ms": _ms(artifact.created_time),
    }


def _artifact_record(row: sa.Row) -> ArtifactRef:
    return ArtifactRef(
        name=row.name,
        digest=row.digest,
        serializer=row.serializer,
        size=row.size,
        created_time=ms_to_datetime(row.created_ms),  # type: ignore[arg-type]
    )


def _input_key(run_input: RunInput) -> tuple[str, str, str]:
    return run_input.kind, run_input.name, str(run_input.version)


def _input_row(run_input: RunInput) -> dict[str, Any]:
    return {
        "kind": run_input.kind,
        "name": run_input.name,
        "version": str(run_input.version),
        "digest": run_input.digest,
    }
