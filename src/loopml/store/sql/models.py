"""The model registry in SQL: versions numbered under a row lock (as datasets are), aliases,
and an audit event written in the same transaction as every alias move."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.entities import freeze
from loopml.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.core.ids import ms_to_datetime, now_ms
from loopml.core.models import ModelVersion, RegisteredModel, Signature, VersionStatus
from loopml.core.names import validate_alias, validate_name
from loopml.core.serving import Route
from loopml.store.base import ModelStore
from loopml.store.sql import schema as t
from loopml.store.sql.audit import insert_event
from loopml.store.sql.dialect import insert_ignore
from loopml.store.sql.engine import read, write
from loopml.store.sql.lookups import run_pk

_VERSION_COLUMNS = (*t.model_versions.c, t.models.c.name, t.runs.c.id.label("run_id"))


def _versions() -> sa.Select:
    return (
        sa.select(*_VERSION_COLUMNS)
        .join(t.models, t.models.c.pk == t.model_versions.c.model_pk)
        .outerjoin(t.runs, t.runs.c.pk == t.model_versions.c.run_pk)
    )


_TARGET = t.model_aliases.alias("target")  # the alias asked for
_SIBLING = t.model_aliases.alias("sibling")  # every alias of the version it points at


def _by_alias() -> sa.Select:
    """The version an alias points at in one query: a row per alias of that version."""
    versions = t.model_versions.c

    def same_version(model_pk: Any, version: Any) -> Any:
        return sa.and_(model_pk == _TARGET.c.model_pk, version == _TARGET.c.version)

    return (
        sa.select(*_VERSION_COLUMNS, _SIBLING.c.alias.label("sibling"))
        .select_from(_TARGET)
        .join(t.models, t.models.c.pk == _TARGET.c.model_pk)
        .join(t.model_versions, same_version(versions.model_pk, versions.version))
        .outerjoin(t.runs, t.runs.c.pk == versions.run_pk)
        .join(_SIBLING, same_version(_SIBLING.c.model_pk, _SIBLING.c.version))
        .where(t.models.c.name == sa.bindparam("name"), _TARGET.c.alias == sa.bindparam("alias"))
    )


_BY_ALIAS = _by_alias()  # built once: resolving an alias is on every serving path


def _version_record(row: sa.Row, aliases: Sequence[str]) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        flavor=row.flavor,
        digest=row.digest,
        size=row.size,
        created_time=ms_to_datetime(row.created_ms),  # type: ignore[arg-type]
        signature=Signature.from_json(row.signature) if row.signature else None,
        run_id=row.run_id,
        aliases=tuple(sorted(aliases)),
        metrics=freeze(row.metrics),
        tags=freeze(row.tags),
        description=row.description,
        status=VersionStatus(row.status),
        trusted_types=tuple(row.trusted_types),
    )


def parse_model_version(version: int | str) -> int:
    if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        return version
    if isinstance(version, str) and version.isdigit() and int(version) >= 1:
        return int(version)
    raise InvalidArgumentError(f"model version must be a number from 1, got {version!r}")


class SqlModelStore(ModelStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- versions ---------------------------------------------------------------------------
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
        validate_name(name, "model name")

        def work(conn: Connection) -> ModelVersion:
            model_pk, version = _next_version(conn, name)
            conn.execute(
                t.model_versions.insert(),
                {
                    "model_pk": model_pk,
                    "version": version,
                    "flavor": flavor,
                    "digest": digest,
                    "size": size,
                    "signature": signature.to_json() if signature else None,
                    "run_pk": run_pk(conn, run_id),
                    "metrics": dict(metrics or {}),
                    "tags": dict(tags or {}),
                    "description": description,
                    "status": VersionStatus.READY.value,
                    "trusted_types": list(trusted_types),
                    "created_ms": now_ms(),
                },
            )
            return self._get(conn, name, version)

        return write(self._engine, work)

    def get_version(self, name: str, version: int | str) -> ModelVersion:
        number = parse_model_version(version)
        return read(self._engine, lambda conn: self._get(conn, name, number))

    def _get(self, conn: Connection, name: str, version: int) -> ModelVersion:
        where = (t.models.c.name == name, t.model_versions.c.version == version)
        row = conn.execute(_versions().where(*where)).first()
        if row is None:
            self._model_pk(conn, name)  # raises NotFoundError naming the model
            raise NotFoundError(f"model {name!r} has no version {version}")
        return _version_record(row, _aliases_of(conn, row.model_pk).get(version, []))

    def latest_version(self, name: str) -> ModelVersion:
        def work(conn: Connection) -> ModelVersion:
            query = (
                _versions()
                .where(t.models.c.name == name, t.model_versions.c.status == "READY")
                .order_by(t.model_versions.c.version.desc())
                .limit(1)
            )
            row = conn.execute(query).first()
            if row is None:
                self._model_pk(conn, name)
                raise NotFoundError(f"model {name!r} has no version that is not archived")
            return _version_record(row, _aliases_of(conn, row.model_pk).get(row.version, []))

        return read(self._engine, work)

    def list_versions(self, name: str) -> list[ModelVersion]:
        def work(conn: Connection) -> list[ModelVersion]:
            model_pk = self._model_pk(conn, name)
            aliases = _aliases_of(conn, model_pk)
            query = _versions().where(t.model_versions.c.model_pk == model_pk)
            rows = conn.execute(query.order_by(t.model_versions.c.version))
            return [_version_record(row, aliases.get(row.version, [])) for row in rows]

        return read(self._engine, work)

    def versions_from_run(self, run_id: str) -> list[ModelVersion]:
        def work(conn: Connection) -> list[ModelVersion]:
            query = _versions().where(t.runs.c.id == run_id).order_by(t.models.c.name)
            return [
                _version_record(row, _aliases_of(conn, row.model_pk).get(row.version, []))
                for row in conn.execute(query)
            ]

        return read(self._engine, work)

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
        def work(conn: Connection) -> ModelVersion:
            current = self._get(conn, name, version)
            values: dict[str, Any] = {}
            if description is not None:
                values["description"] = description
            if tags is not None:
                values["tags"] = {**current.tags, **tags}
            if status is not None and status != current.status:
                if status is VersionStatus.ARCHIVED and current.aliases:
                    raise ConflictError(
                        f"{name}/{version} is aliased as {', '.join(current.aliases)}: move "
                        "or delete the aliases before archiving it"
                    )
                values["status"] = VersionStatus(status).value
                insert_event(conn, actor, f"version.{status.value.lower()}", f"model:{name}",
                             {"version": version})  # fmt: skip
            if values:
                conn.execute(
                    t.model_versions.update()
                    .where(t.model_versions.c.model_pk == self._model_pk(conn, name))
                    .where(t.model_versions.c.version == version)
                    .values(values)
                )
            return self._get(conn, name, version)

        return write(self._engine, work)

    def delete_version(self, name: str, version: int, *, actor: str = "unknown") -> None:
        def work(conn: Connection) -> None:
            current = self._get(conn, name, version)
            if current.aliases:
                raise ConflictError(
                    f"{name}/{version} is in use by alias {', '.join(current.aliases)}; "
                    "move the alias first"
                )
            serving = _deployments_serving(conn, name, version)
            if serving:
                raise ConflictError(
                    f"{name}/{version} serves in deployment {', '.join(serving)}; route the "
                    "deployment to another version first"
                )
            conn.execute(
                t.model_versions.delete()
                .where(t.model_versions.c.model_pk == self._model_pk(conn, name))
                .where(t.model_versions.c.version == version)
            )
            insert_event(conn, actor, "version.delete", f"model:{name}", {"version": version})

        write(self._engine, work)

    # -- models -----------------------------------------------------------------------------
    def get_model(self, name: str) -> RegisteredModel:
        def work(conn: Connection) -> RegisteredModel:
            row = conn.execute(sa.select(t.models).where(t.models.c.name == name)).first()
            if row is None:
                raise NotFoundError(f"model {name!r} not found")
            return _model_record(row, _aliases_of(conn, row.pk))

        return read(self._engine, work)

    def list_models(self) -> list[RegisteredModel]:
        def work(conn: Connection) -> list[RegisteredModel]:
            rows = conn.execute(sa.select(t.models).order_by(t.models.c.name)).all()
            aliases = _all_aliases(conn)
            return [_model_record(row, aliases.get(row.pk, {})) for row in rows]

        return read(self._engine, work)

    def update_model(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        def work(conn: Connection) -> RegisteredModel:
            model_pk = self._model_pk(conn, name)
            row = conn.execute(sa.select(t.models).where(t.models.c.pk == model_pk)).one()
            values: dict[str, Any] = {}
            if description is not None:
                values["description"] = description
            if tags is not None:
                values["tags"] = {**row.tags, **tags}
            if values:
                conn.execute(t.models.update().where(t.models.c.pk == model_pk).values(values))
            row = conn.execute(sa.select(t.models).where(t.models.c.pk == model_pk)).one()
            return _model_record(row, _aliases_of(conn, model_pk))

        return write(self._engine, work)

    # -- aliases ----------------------------------------------------------------------------
    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str, reason: str | None = None
    ) -> int | None:
        validate_alias(alias)
        number = parse_model_version(version)

        def work(conn: Connection) -> int | None:
            target = self._get(conn, name, number)
            if target.status is VersionStatus.ARCHIVED:
                raise ConflictError(f"{name}/{number} is archived; an alias cannot point at it")
            model_pk = self._model_pk(conn, name)
            previous = _alias_version(conn, model_pk, alias)
            key = {"model_pk": model_pk, "alias": alias}
            conn.execute(insert_ignore(conn, t.model_aliases),
                         [{**key, "version": number, "updated_ms": now_ms()}])  # fmt: skip
            conn.execute(
                t.model_aliases.update()
                .where(t.model_aliases.c.model_pk == model_pk, t.model_aliases.c.alias == alias)
                .values(version=number, updated_ms=now_ms())
            )
            details = {"alias": alias, "from": previous, "to": number, "reason": reason}
            insert_event(conn, actor, "alias.set", f"model:{name}", details)
            return previous

        return write(self._engine, work)

    def delete_alias(self, name: str, alias: str, *, actor: str, reason: str | None = None) -> int:
        def work(conn: Connection) -> int:
            model_pk = self._model_pk(conn, name)
            previous = _alias_version(conn, model_pk, alias)
            if previous is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}")
            conn.execute(
                t.model_aliases.delete().where(
                    t.model_aliases.c.model_pk == model_pk, t.model_aliases.c.alias == alias
                )
            )
            details = {"alias": alias, "from": previous, "to": None, "reason": reason}
            insert_event(conn, actor, "alias.delete", f"model:{name}", details)
            return previous

        return write(self._engine, work)

    def get_alias(self, name: str, alias: str) -> ModelVersion:
        def work(conn: Connection) -> ModelVersion:
            rows = conn.execute(_BY_ALIAS, {"name": name, "alias": alias}).all()
            if rows:
                return _version_record(rows[0], [row.sibling for row in rows])
            # Not found: the slow path says what is missing (the model, alias or version).
            version = _alias_version(conn, self._model_pk(conn, name), alias)
            if version is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}")
            return self._get(conn, name, version)

        return read(self._engine, work)

    def _model_pk(self, conn: Connection, name: str) -> int:
        pk = conn.execute(sa.select(t.models.c.pk).where(t.models.c.name == name)).scalar()
        if pk is None:
            raise NotFoundError(f"model {name!r} not found")
        return pk


def _model_record(row: sa.Row, aliases: Mapping[int, Sequence[str]]) -> RegisteredModel:
    return RegisteredModel(
        name=row.name,
        created_time=ms_to_datetime(row.created_ms),  # type: ignore[arg-type]
        latest_version=row.last_version,
        description=row.description,
        tags=freeze(row.tags),
        aliases=freeze({alias: v for v, names in aliases.items() for alias in names}),
    )


def _aliases_of(conn: Connection, model_pk: int) -> dict[int, list[str]]:
    """version -> its aliases, for one model."""
    query = sa.select(t.model_aliases).where(t.model_aliases.c.model_pk == model_pk)
    found: dict[int, list[str]] = {}
    for row in conn.execute(query):
        found.setdefault(row.version, []).append(row.alias)
    return found


def _all_aliases(conn: Connection) -> dict[int, dict[int, list[str]]]:
    found: dict[int, dict[int, list[str]]] = {}
    for row in conn.execute(sa.select(t.model_aliases)):
        found.setdefault(row.model_pk, {}).setdefault(row.version, []).append(row.alias)
    return found


def _alias_version(conn: Connection, model_pk: int, alias: str) -> int | None:
    query = sa.select(t.model_aliases.c.version).where(
        t.model_aliases.c.model_pk == model_pk, t.model_aliases.c.alias == alias
    )
    return conn.execute(query).scalar()


def _next_version(conn: Connection, name: str) -> tuple[int, int]:
    """Bump the model's counter; the UPDATE's row lock orders concurrent registrations."""
    row = {"name": name, "tags": {}, "last_version": 0, "created_ms": now_ms()}
    conn.execute(insert_ignore(conn, t.models), [row])
    bumped = conn.execute(
        t.models.update()
        .where(t.models.c.name == name)
        .values(last_version=t.models.c.last_version + 1)
        .returning(t.models.c.pk, t.models.c.last_version)
    ).one()
    return bumped.pk, bumped.last_version


def _deployments_serving(conn: Connection, name: str, version: int) -> list[str]:
    """Names of the deployments whose current routes send traffic to `name`/`version`."""
    found = []
    for row in conn.execute(sa.select(t.deployments.c.name, t.deployments.c.routes)):
        routes = [Route.from_json(r) for r in row.routes]
        if any(r.model == name and r.version == version for r in routes):
            found.append(row.name)
    return sorted(found)
