"""Who may do what on a server: users, their roles per project, and API tokens.

A role is granted per project, or for every project with "*" (datasets, models, deployments
and the other records that belong to no project need a "*" grant). Roles nest:
viewer (read) < editor (read, write) < admin (also users and tokens).
"""

from __future__ import annotations

import dataclasses
import enum
import getpass
import os
from datetime import datetime

from loopml.core.entities import FrozenDict

ALL_PROJECTS = "*"


def local_actor() -> str:
    """Who acts from this process, for the audit trail: LOOPML_USER, else the OS user. (On a
    server, the token's user replaces what a client sends: server.access.)"""
    try:
        return os.environ.get("LOOPML_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Role(enum.StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def covers(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    user: str
    token_id: str
    grants: FrozenDict = dataclasses.field(default_factory=FrozenDict)  # project -> Role

    def role_on(self, project: str) -> Role | None:
        roles = [self.grants.get(project), self.grants.get(ALL_PROJECTS)]
        granted = [r for r in roles if r is not None]
        return max(granted, key=lambda r: r.rank) if granted else None

    def may(self, needed: Role, project: str = ALL_PROJECTS) -> bool:
        role = self.role_on(project)
        return role is not None and role.covers(needed)


@dataclasses.dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    user: str
    created_time: datetime
    revoked_time: datetime | None = None
    note: str | None = None
    # The roles of the token's user (project -> Role): what a request with the token may do.
    # Grants belong to the user, so every token of a user carries the same ones.
    grants: FrozenDict = dataclasses.field(default_factory=FrozenDict)


# A secret that guards a server: at least 32 random bytes, URL-safe encoded (43 characters).
MIN_TOKEN_LENGTH = 43
MIN_TOKEN_DISTINCT = 12  # hex has 16 symbols; a random URL-safe token about 30
MAKE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def check_token_strength(token: str, name: str) -> str:
    """`token` unless it is too short or too repetitive to be 32 random bytes: then an
    InvalidArgumentError naming `name` (the setting) and the command that makes a good one.
    The token itself is never echoed."""
    from loopml.core.errors import InvalidArgumentError

    problem = None
    if len(token) < MIN_TOKEN_LENGTH:
        problem = f"is {len(token)} characters long; at least {MIN_TOKEN_LENGTH} are needed"
    elif len(set(token)) < MIN_TOKEN_DISTINCT or token.strip() != token:
        problem = "is too repetitive to be random"
    else:
        distinct_pairs = {token[i : i + 2] for i in range(len(token) - 1)}
        if len(distinct_pairs) < len(token) // 2:
            problem = "repeats itself: it is not random"
    if problem:
        raise InvalidArgumentError(
            f"{name} {problem} (32 random bytes, e.g. 43 URL-safe characters, are needed); "
            f"make one with: {MAKE_TOKEN}"
        )
    return token
