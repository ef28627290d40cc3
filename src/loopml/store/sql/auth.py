"""Users, grants and API tokens in SQL. A token is `lml_<id>_<secret>`: the id finds the row,
and only a SHA-256 of the secret is kept, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.core.auth import ALL_PROJECTS, Principal, Role, TokenInfo
from loopml.core.entities import FrozenDict
from loopml.core.errors import AuthenticationError, InvalidArgumentError, NotFoundError
from loopml.core.ids import ms_to_datetime, now_ms
from loopml.core.names import validate_name
from loopml.store.base import AuthStore
from loopml.store.sql import schema as t
from loopml.store.sql.engine import read, write

PREFIX = "lml"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlAuthStore(AuthStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_token(
        self, user: str, *, role: Role | None = None, project: str = ALL_PROJECTS,
        note: str | None = None,
    ) -> str:  # fmt: skip
        validate_name(user, "user name")
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)

        def work(conn: Connection) -> None:
            _ensure_user(conn, user)
            if role is not None:
                _grant(conn, user, Role(role), project)
            conn.execute(t.tokens.insert(), {"id": token_id, "user": user,
                                             "secret_hash": _hash(secret),
                                             "created_ms": now_ms(), "note": note})  # fmt: skip

        write(self._engine, work)
        return f"{PREFIX}_{token_id}_{secret}"

    def authenticate(self, token: str) -> Principal:
        parts = token.split("_", 2) if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != PREFIX:
            raise AuthenticationError("malformed token: expected lml_<id>_<secret>")
        _, token_id, secret = parts

        def work(conn: Connection) -> Principal:
            row = conn.execute(sa.select(t.tokens).where(t.tokens.c.id == token_id)).first()
            # Compare even when the id is unknown, so timing does not tell ids apart.
            expected = row.secret_hash if row is not None else _hash("")
            if not hmac.compare_digest(expected, _hash(secret)) or row is None:
                raise AuthenticationError("unknown token")
            if row.revoked_ms is not None:
                raise AuthenticationError("this token was revoked")
            found = conn.execute(sa.select(t.grants).where(t.grants.c.user == row.user))
            grants = {g.project: Role(g.role) for g in found}
            return Principal(row.user, token_id, FrozenDict(grants))

        return read(self._engine, work)

    def grant(self, user: str, role: Role, project: str = ALL_PROJECTS) -> None:
        def work(conn: Connection) -> None:
            if conn.execute(sa.select(t.users).where(t.users.c.name == user)).first() is None:
                raise NotFoundError(f"user {user!r} not found")
            _grant(conn, user, Role(role), project)

        write(self._engine, work)

    def revoke(self, token_id: str) -> None:
        query = (
            t.tokens.update()
            .where(t.tokens.c.id == token_id, t.tokens.c.revoked_ms.is_(None))
            .values(revoked_ms=now_ms())
        )
        done = write(self._engine, lambda conn: conn.execute(query).rowcount)
        if not done:
            raise NotFoundError(f"no live token with id {token_id!r}")

    def tokens(self, user: str | None = None) -> list[TokenInfo]:
        query = sa.select(t.tokens).order_by(t.tokens.c.created_ms)
        if user is not None:
            query = query.where(t.tokens.c.user == user)

        def work(conn: Connection) -> tuple[list[sa.Row], dict[str, dict[str, Role]]]:
            rows = list(conn.execute(query))
            grants: dict[str, dict[str, Role]] = {}
            users = sorted({r.user for r in rows})
            for start in range(0, len(users), 500):
                chunk = users[start : start + 500]
                found = conn.execute(sa.select(t.grants).where(t.grants.c.user.in_(chunk)))
                for g in found:
                    grants.setdefault(g.user, {})[g.project] = Role(g.role)
            return rows, grants

        rows, grants = read(self._engine, work)
        return [TokenInfo(r.id, r.user, ms_to_datetime(r.created_ms),  # type: ignore[arg-type]
                          ms_to_datetime(r.revoked_ms), r.note,
                          FrozenDict(grants.get(r.user, {}))) for r in rows]  # fmt: skip

    def has_users(self) -> bool:
        query = sa.select(sa.func.count()).select_from(t.users)
        return bool(read(self._engine, lambda conn: conn.execute(query).scalar_one()))


def _ensure_user(conn: Connection, user: str) -> None:
    if conn.execute(sa.select(t.users).where(t.users.c.name == user)).first() is None:
        conn.execute(t.users.insert(), {"name": user, "created_ms": now_ms()})


def _grant(conn: Connection, user: str, role: Role, project: str) -> None:
    if project != ALL_PROJECTS:
        validate_name(project, "project name")
    if role not in Role:
        raise InvalidArgumentError(f"unknown role {role!r} (roles: viewer, editor, admin)")
    g = t.grants
    conn.execute(g.delete().where(g.c.user == user, g.c.project == project))
    conn.execute(g.insert(), {"user": user, "project": project, "role": role.value})
