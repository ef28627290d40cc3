"""`loopml serve`: uvicorn serving a deployment, shut down gracefully.

On SIGTERM (or Ctrl-C) readiness turns false at once, the server stops accepting
connections, requests in flight complete, queued predictions are written, then it exits.
With `settings.workers` > 1 several processes answer the socket (serving.workers).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Callable, Iterable
from typing import Any

from loopml.core.auth import check_token_strength
from loopml.core.errors import InvalidArgumentError
from loopml.serving.service import ServeSettings
from loopml.workspace import Workspace

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host of a Host header value, as the allow-list holds it: lower case, without the
    port, the brackets of an IPv6 address or a trailing dot."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[1:end] if end > 0 else header
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def allowed_hosts(bind: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host header values a server bound to `bind` answers: the loopback names; on any
    other address also that address and this machine's names and addresses (its host name,
    fully qualified name, what they resolve to, and the address it reaches the network by:
    in a Kubernetes pod, the pod IP its probes and peers use); and `extra` (`--allowed-host`:
    the names clients use through a load balancer, a Service or an ingress; "*" for any)."""
    hosts = set(LOOPBACK_NAMES)
    if not is_loopback(bind):
        if bind not in WILDCARDS:
            hosts.add(bind)
        hosts |= machine_names()
    hosts |= {host_name(h) for h in extra if h.strip()}
    hosts.discard("")
    return frozenset(hosts)


def machine_names() -> set[str]:
    names: set[str] = set()
    for name in (socket.gethostname(), socket.getfqdn()):
        if not name:
            continue
        names.add(name)
        with contextlib.suppress(OSError, UnicodeError):
            names |= {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, 9))  # a UDP "connection" sends nothing: it picks a route
            names.add(sock.getsockname()[0])
    return {host_name(n.split("%", 1)[0]) for n in names}  # no IPv6 zone ids


def serve(
    deployment: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    settings: ServeSettings | None = None,
    workspace: Workspace | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM or Ctrl-C; `on_listening(url)` once the socket is bound (never for
    a busy port or a missing deployment)."""
    import uvicorn

    from loopml.serving.app import create_app

    settings = settings or ServeSettings(token=os.environ.get("LOOPML_SERVE_TOKEN") or None)
    if settings.token is not None:  # a weak secret guards nothing, on any address
        check_token_strength(settings.token, "LOOPML_SERVE_TOKEN")
    if not is_loopback(host) and not settings.token:
        raise InvalidArgumentError(
            f"refusing to serve {deployment!r} on {host} without authentication: set "
            "LOOPML_SERVE_TOKEN (clients send it as a Bearer token), or bind 127.0.0.1"
        )
    if settings.workers < 1:
        raise InvalidArgumentError(f"--workers must be at least 1, got {settings.workers}")
    ws = workspace or Workspace.current()
    ws.store.deployments.get(deployment)  # a clear error before the server starts
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    def listening() -> None:
        if on_listening is not None:
            on_listening(url)

    options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning",
                               "timeout_graceful_shutdown": 30, "access_log": False,
                               "lifespan": "on"}  # fmt: skip
    if settings.workers > 1:
        from loopml.serving.workers import run_workers

        check_free(host, port)
        run_workers(options, deployment, settings, ws.config, listening)
        return
    app = create_app(ws, deployment, settings, host=host)
    _GracefulServer(uvicorn.Config(app, **options), app, listening).run()


def check_free(host: str, port: int) -> None:
    """A busy port is a one-line error before any worker starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise InvalidArgumentError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


class _GracefulServer:
    """uvicorn's server, with readiness dropped the moment a shutdown signal arrives."""

    def __new__(cls, config: Any, app: Any, listening: Callable[[], Any] = lambda: None) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                app.state.service.draining = True
                super().handle_exit(sig, frame)

            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets)
                if self.started:  # bound: uvicorn sets should_exit instead on a busy port
                    listening()

        return Server(config)
