"""`loopml server`: serve the workspace's stores to a team; `loopml server token ...` manages
API tokens on the server's own workspace."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from loopml.cli.output import console, print_json

app = typer.Typer(help="The team server: REST API with tokens and roles.",
                  invoke_without_command=True)  # fmt: skip
tokens = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
app.add_typer(tokens, name="token")


def _workspace() -> Any:
    from loopml.workspace import Workspace

    return Workspace.current()


@app.callback()
def server(
    context: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", "-p"),
    no_auth: bool = typer.Option(False, "--no-auth", help="Turn authentication off (loopback "
                                 "addresses only)."),
    allowed_host: list[str] = typer.Option(None, "--allowed-host", help="Another Host header "
                                           "value to accept, e.g. the name clients use through "
                                           "a load balancer (loopback names, and on another "
                                           "address this machine's names, are accepted)."),
    workers: int = typer.Option(1, "--workers", "-w", help="Worker processes (share the "
                                "database: use PostgreSQL for more than one)."),
) -> None:  # fmt: skip
    """Serve the workspace's stores over HTTP (Ctrl-C stops it)."""
    if context.invoked_subcommand is not None:
        return
    from loopml.server.main import serve

    serve(_workspace(), host=host, port=port, auth=not no_auth,
          allowed_hosts=tuple(allowed_host or ()), workers=workers)  # fmt: skip


@tokens.command("create")
def create(
    user: str = typer.Option(..., "--user", "-u"),
    role: str = typer.Option(None, "--role", "-r", help="viewer, editor or admin."),
    project: str = typer.Option("*", "--project", help="The project the role is for "
                                "(default: every project)."),
    note: str = typer.Option(None, "--note"),
) -> None:  # fmt: skip
    """Create a token for USER (and grant ROLE on PROJECT); the token is the last line."""
    from loopml.core.auth import Role
    from loopml.core.errors import InvalidArgumentError

    if role is not None and role not in {r.value for r in Role}:
        raise InvalidArgumentError(f"unknown role {role!r}: use viewer, editor or admin")
    auth = _workspace().store.auth
    token = auth.create_token(user, role=Role(role) if role else None, project=project,
                              note=note)  # fmt: skip
    console().print(f"token for {user}" + (f" ({role} on {project})" if role else ""),
                    style="dim")  # fmt: skip
    print(token)


@tokens.command("ls")
def list_tokens(
    user: str = typer.Option(None, "--user", "-u", help="Only this user's tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Tokens (ids, never the secrets), oldest first, with the role and project each may act
    on (the roles of the token's user)."""
    found = _workspace().store.auth.tokens(user)
    if as_json:
        print_json([{"id": t.id, "user": t.user, "created": t.created_time.isoformat(),
                     "revoked": t.revoked_time.isoformat() if t.revoked_time else None,
                     "note": t.note, "grants": _grants(t)} for t in found])  # fmt: skip
        return
    table = Table("id", "user", "role", "project", "created", "revoked", "note")
    for t in found:
        grants = _grants(t)
        table.add_row(t.id, t.user, "\n".join(g["role"] for g in grants) or "-",
                      "\n".join(g["project"] for g in grants) or "-",
                      f"{t.created_time:%Y-%m-%d %H:%M}",
                      f"{t.revoked_time:%Y-%m-%d %H:%M}" if t.revoked_time else "",
                      t.note or "")  # fmt: skip
    console().print(table)


def _grants(token: Any) -> list[dict[str, str]]:
    """The token's roles, "*" (every project) first, then by project."""
    grants = getattr(token, "grants", None) or {}
    ordered = sorted(grants.items(), key=lambda item: (item[0] != "*", item[0]))
    return [{"role": str(getattr(role, "value", role)), "project": project}
            for project, role in ordered]  # fmt: skip


@tokens.command("revoke")
def revoke(token_id: str = typer.Argument(..., help="The token's id (from `token ls`).")) -> None:
    """Revoke a token: requests with it get 401 from then on."""
    _workspace().store.auth.revoke(token_id)
    console().print(f"revoked {token_id}")
