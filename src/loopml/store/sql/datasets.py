"""Dataset versions in SQL. Numbers come from a per-dataset counter bumped under a row lock,
so racing writers get N and N+1; a unique (dataset, version) constraint backs that up."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.datasets import DatasetVersion, Schema, schema_from_json, schema_to_json
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.ids import ms_to_datetime, now_ms
from loopml.core.names import validate_name
from loopml.store.base import DatasetStore
from loopml.store.sql import schema as t
from loopml.store.sql.audit import insert_event
from loopml.store.sql.dialect import insert_ignore
from loopml.store.sql.engine import read, write
from loopml.store.sql.lookups import run_pk

_COLUMNS = (
    *t.dataset_versions.c,
    t.datasets.c.name,
    t.runs.c.id.label("producer_run_id"),
)


def _query() -> sa.Select:
    return (
        sa.select(*_COLUMNS)
        .join(t.datasets, t.datasets.c.pk == t.dataset_versions.c.dataset_pk)
        .outerjoin(t.runs, t.runs.c.pk == t.dataset_versions.c.producer_run_pk)
    )


def _record(row: sa.Row, created: bool = True) -> DatasetVersion:
    return DatasetVersion(
        name=row.name,
        version=row.version,
        digest=row.digest,
        created_time=ms_to_datetime(row.created_ms),  # type: ignore[arg-type]
        files=row.files,
        size=row.size,
        format=row.format,
        schema=schema_from_json(row.schema) if row.schema else None,
        producer_run_id=row.producer_run_id,
        profile_digest=row.profile_digest,
        created=created,
    )


def parse_version(version: int | str) -> int | None:
    """A version number, or None for "latest"."""
    if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        return version
    if isinstance(version, str):
        if version == "latest":
            return None
        if version.isdigit() and int(version) >= 1:
            return int(version)
    raise InvalidArgumentError(
        f"dataset version must be a number from 1 or 'latest', got {version!r}"
    )


class SqlDatasetStore(DatasetStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

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
        validate_name(name, "dataset name")

        def work(conn: Connection) -> DatasetVersion:
            latest = conn.execute(_query().where(*_latest(name))).first()
            if latest is not None and latest.digest == digest:
                return _record(latest, created=False)
            dataset_pk, version = _next_version(conn, name)
            conn.execute(
                t.dataset_versions.insert(),
                {
                    "dataset_pk": dataset_pk,
                    "version": version,
                    "digest": digest,
                    "files": files,
                    "size": size,
                    "format": format,
                    "schema": schema_to_json(schema) if schema else None,
                    "profile_digest": profile_digest,
                    "producer_run_pk": run_pk(conn, producer_run_id),
                    "created_ms": now_ms(),
                },
            )
            row = conn.execute(_query().where(*_exact(name, version))).one()
            return _record(row)

        return write(self._engine, work)

    def get_version(self, name: str, version: int | str = "latest") -> DatasetVersion:
        number = parse_version(version)
        where = _latest(name) if number is None else _exact(name, number)

        def work(conn: Connection) -> DatasetVersion:
            row = conn.execute(_query().where(*where)).first()
            if row is not None:
                return _record(row)
            if conn.execute(sa.select(t.datasets.c.pk).where(t.datasets.c.name == name)).first():
                raise NotFoundError(f"dataset {name!r} has no version {version}")
            raise NotFoundError(f"dataset {name!r} not found")

        return read(self._engine, work)

    def list_versions(self, name: str) -> list[DatasetVersion]:
        query = _query().where(t.datasets.c.name == name).order_by(t.dataset_versions.c.version)
        rows = read(self._engine, lambda conn: list(conn.execute(query)))
        if not rows:
            self.get_version(name)  # raises NotFoundError naming the dataset
        return [_record(row) for row in rows]

    def list_latest(self) -> list[DatasetVersion]:
        query = _query().where(_newest()).order_by(t.datasets.c.name)
        return [_record(row) for row in read(self._engine, lambda conn: list(conn.execute(query)))]

    def find_by_digest(self, digest: str) -> list[DatasetVersion]:
        query = _query().where(t.dataset_versions.c.digest == digest)
        query = query.order_by(t.datasets.c.name, t.dataset_versions.c.version)
        return [_record(row) for row in read(self._engine, lambda conn: list(conn.execute(query)))]

    def produced_by(self, run_id: str) -> list[DatasetVersion]:
        query = _query().where(t.runs.c.id == run_id)
        query = query.order_by(t.datasets.c.name, t.dataset_versions.c.version)
        return [_record(row) for row in read(self._engine, lambda conn: list(conn.execute(query)))]

    def consumers(self, name: str, version: int) -> list[str]:
        query = (
            sa.select(t.runs.c.id)
            .join(t.run_inputs, t.run_inputs.c.run_pk == t.runs.c.pk)
            .where(
                t.run_inputs.c.kind == "dataset",
                t.run_inputs.c.name == name,
                t.run_inputs.c.version == str(version),
            )
            .order_by(t.runs.c.start_ms)
        )
        return read(self._engine, lambda conn: list(conn.execute(query).scalars()))

    def delete_version(self, name: str, version: int, *, actor: str = "unknown") -> None:
        def work(conn: Connection) -> None:
            row = conn.execute(_query().where(*_exact(name, version))).first()
            if row is None:
                self.get_version(name, version)  # NotFoundError naming the dataset or version
            conn.execute(t.dataset_versions.delete().where(t.dataset_versions.c.pk == row.pk))
            details = {"version": version, "digest": row.digest}
            insert_event(conn, actor, "dataset.version.delete", f"dataset:{name}", details)

        write(self._engine, work)


def _newest() -> sa.ColumnElement[bool]:
    """The highest version still there (`last_version` only numbers them: the newest one
    may have been deleted)."""
    v = t.dataset_versions.alias("newest")
    top = sa.select(sa.func.max(v.c.version)).where(v.c.dataset_pk == t.datasets.c.pk)
    return t.dataset_versions.c.version == top.scalar_subquery()


def _latest(name: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (t.datasets.c.name == name, _newest())


def _exact(name: str, version: int) -> tuple[sa.ColumnElement[bool], ...]:
    return (t.datasets.c.name == name, t.dataset_versions.c.version == version)


def _next_version(conn: Connection, name: str) -> tuple[int, int]:
    """Bump the dataset's counter; the UPDATE's row lock orders concurrent writers."""
    row = {"name": name, "last_version": 0, "created_ms": now_ms()}
    conn.execute(insert_ignore(conn, t.datasets), [row])
    bumped = conn.execute(
        t.datasets.update()
        .where(t.datasets.c.name == name)
        .values(last_version=t.datasets.c.last_version + 1)
        .returning(t.datasets.c.pk, t.datasets.c.last_version)
    ).one()
    return bumped.pk, bumped.last_version
