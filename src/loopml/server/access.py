"""Authentication (a Bearer token) and authorization (a role on the projects a call touches).

A call touches the projects its arguments name (`project`, `projects`, the project of each run
in `run_id` or `run_ids`); calls on records that belong to no project (datasets, models,
deployments, audit, ...) or that span every project need a grant on "*". Reads need viewer,
everything else editor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from loopml.core.auth import ALL_PROJECTS, Principal, Role
from loopml.core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidArgumentError,
    PermissionDeniedError,
)
from loopml.store import rpc
from loopml.workspace import Workspace


class Access:
    """One server's gatekeeper; remembers the project of each run it has looked up."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._run_projects: dict[str, str] = {}

    def authenticate(self, header: str | None) -> Principal:
        if not header:
            raise AuthenticationError("authentication required: send Authorization: Bearer TOKEN")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("the Authorization header must be 'Bearer TOKEN'")
        assert self.ws.store.auth is not None, "a server runs on a local (SQL) store"
        return self.ws.store.auth.authenticate(token.strip())

    def check(
        self, principal: Principal | None, store: str, method: str, kwargs: Mapping[str, Any]
    ) -> None:
        """PermissionDeniedError unless `principal` may make this call (None: auth is off)."""
        if principal is None:
            return
        needed = Role.VIEWER if rpc.is_read(method) else Role.EDITOR
        for project in self.projects_touched(store, kwargs, method):
            if not principal.may(needed, project):
                where = "every project" if project == ALL_PROJECTS else f"project {project!r}"
                raise PermissionDeniedError(
                    f"{principal.user} may not call {store}.{method} on {where}: it needs the "
                    f"{needed.value} role there"
                )

    def narrow(
        self, principal: Principal | None, store: str, method: str, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The arguments of a call as the server makes it for this caller: the stale-run sweep
        (which every client makes as it opens a workspace) waits at least the server's own
        heartbeat timeout, whatever the caller asked (a client with a short timeout must not
        fail other clients' live runs), and, for a token without the editor role on every
        project, covers only the projects it may edit (none for a viewer). An audited call's
        `actor` is the token's user, whatever the client claims, unless the token is an
        administrator's everywhere: one may act for another user (the controller's service
        token records the actor it acts for), and could mint that user's token anyway."""
        if principal is not None and "actor" in kwargs and not principal.may(Role.ADMIN):
            kwargs = {**kwargs, "actor": principal.user}
        if (store, method) != ("runs", "fail_stale"):
            return kwargs
        narrowed = dict(kwargs)
        floor = self.ws.config.heartbeat_timeout
        asked = kwargs.get("timeout_seconds")
        if isinstance(asked, int | float) and 0 < asked < floor:  # others: the store refuses
            narrowed["timeout_seconds"] = floor
        everywhere = principal is None or principal.may(Role.EDITOR, ALL_PROJECTS)
        if kwargs.get("projects") is None and not everywhere:
            assert principal is not None
            narrowed["projects"] = editable_projects(principal)
        return narrowed

    def projects_touched(self, store: str, kwargs: Mapping[str, Any], method: str = "") -> set[str]:
        if store not in ("runs", "projects"):
            return {ALL_PROJECTS}
        named: set[str] = set()
        if isinstance(kwargs.get("project"), str):
            named.add(kwargs["project"])
        if store == "projects" and isinstance(kwargs.get("name"), str):
            named.add(kwargs["name"])
        if "projects" in kwargs:
            projects = kwargs["projects"]
            named |= {ALL_PROJECTS} if projects is None else set(_texts(projects))
        creates = store == "runs" and method == "create"  # its run_id names the run to be
        run_ids = [kwargs["run_id"]] if "run_id" in kwargs and not creates else []
        run_ids += list(kwargs.get("run_ids") or ())
        named |= {self.project_of(run_id) for run_id in _texts(run_ids)}
        if kwargs.get("projects") is not None:  # an explicit list, even empty, names them all
            return named
        return named or {ALL_PROJECTS}

    def project_of(self, run_id: str) -> str:
        found = self._run_projects.get(run_id)
        if found is None:  # a run never moves between projects
            found = self.ws.store.runs.get(run_id).project  # NotFoundError for an unknown run
            if len(self._run_projects) > 100_000:
                self._run_projects.clear()
            self._run_projects[run_id] = found
        return found


def call_store(store: str, method: str, target: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """The store call, with the database refusals that a request's values cause (and the
        store did not name) answered as the caller's mistake instead of the server's: a number
        too large for its column (400), a value the database cannot hold (a NUL, too long for its
    column: 400), a row that clashes with a stored one (409). Used by the API and the pages."""
    try:
        return target(**kwargs)
    except OverflowError as exc:
        raise InvalidArgumentError(f"{store}.{method}: a number is out of range ({exc})") from None
    except sa.exc.DataError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise InvalidArgumentError(f"{store}.{method}: a value was refused ({reason})") from None
    except sa.exc.IntegrityError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise ConflictError(
            f"{store}.{method}: it clashes with what is stored ({reason})"
        ) from None


def editable_projects(principal: Principal) -> list[str]:
    """The projects (not "*") on which `principal` has the editor role or above."""
    return sorted(
        project
        for project, role in principal.grants.items()
        if project != ALL_PROJECTS and Role(role).covers(Role.EDITOR)
    )


def _texts(values: Any) -> Iterable[str]:
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]
