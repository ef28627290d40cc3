"""Who may do what on a server: users, their roles per project, and API tokens.

A role is granted per project, or for every project with "*" (datasets, models, deployments
and the other records that belong to no project need a "*" grant). Roles nest:
viewer (read) < editor (read, write) < admin (also users and tokens).
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime

from loopml.core.entities import FrozenDict

ALL_PROJECTS = "*"


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
