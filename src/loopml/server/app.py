"""The team server: every store interface as a REST API, behind tokens and roles.

Each method of each store interface is a route, `POST /api/v1/{store}/{method}`, generated
from the interfaces themselves (`loopml.store.rpc`), so the OpenAPI document at /openapi.json
lists them all and the remote store needs no code per method. Errors are JSON:
`{"error": {"type": "NotFoundError", "message": "..."}}` with the matching 4xx status.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from loopml.core.auth import Principal
from loopml.core.errors import (
    AuthenticationError,
    InvalidArgumentError,
    LoopmlError,
    PermissionDeniedError,
    http_status,
)
from loopml.core.origin import cross_origin_refusal
from loopml.server import blobs, idempotency, ui
from loopml.server.access import Access, call_store
from loopml.server.bodies import read_limited, require_json
from loopml.serving.server import host_name
from loopml.store import rpc
from loopml.workspace import Workspace

log = logging.getLogger("loopml.server")
HEALTH = ("/api/v1/health/live", "/api/v1/health/ready")
MAX_BODY = 64 << 20
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    # Not no-referrer: under it a browser sends `Origin: null` even from our own forms.
    "Referrer-Policy": "same-origin",
}


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    auth: bool = True  # off only on loopback (`loopml ui`, tests that say so)
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")


def create_app(workspace: Workspace, settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    app = FastAPI(title="loopml", version="1", docs_url=None, redoc_url=None)
    app.state.workspace = workspace
    app.state.settings = settings
    app.state.access = Access(workspace)
    _middleware(app, settings)
    blobs.add_routes(app)
    ui.mount(app)  # the web UI: / and its pages, /login
    for store in rpc.STORES:
        for method in rpc.methods(store):
            body = {"content": {"application/json": {"schema": rpc.request_schema(store, method)}}}
            app.add_api_route(f"{rpc.API_PREFIX}/{store}/{method}", _endpoint(store, method),
                              methods=["POST"], name=f"{store}.{method}", tags=[store],
                              openapi_extra={"requestBody": body})  # fmt: skip

    @app.get(HEALTH[0], tags=["health"])
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get(HEALTH[1], tags=["health"])
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.exception_handler(LoopmlError)
    async def loopml_error(request: Request, error: LoopmlError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "NotFoundError" if error.status_code == 404 else "HTTPError"
        body = {"error": {"type": kind, "message": f"{request.url.path}: {error.detail}"}}
        return JSONResponse(body, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in error.errors()
        )
        return error_response(InvalidArgumentError(f"{request.url.path}: {problems}"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.exception("%s failed (error id %s)", request.url.path, error_id)
        body = {"error": {"type": "InternalError", "message": f"internal error {error_id}"}}
        return JSONResponse(body, status_code=500)

    return app


def error_response(error: LoopmlError) -> JSONResponse:
    body = {"error": {"type": type(error).__name__, "message": str(error)}}
    return JSONResponse(body, status_code=http_status(error))


def _endpoint(store: str, method: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        principal: Principal | None = request.state.principal
        body = await _json(request)
        kwargs = rpc.bind(store, method, rpc.decode_arguments(body.get("kwargs", {})))
        ws: Workspace = request.app.state.workspace
        key = None if rpc.is_read(method) else request.headers.get("idempotency-key")
        digest = idempotency.request_digest(store, method, body.get("kwargs", {})) if key else ""

        def work() -> Any:
            access: Access = request.app.state.access
            narrowed = access.narrow(principal, store, method, kwargs)
            access.check(principal, store, method, narrowed)
            target = getattr(getattr(ws.store, store), method)
            return rpc.encode_result(call_store(store, method, target, narrowed))

        user = principal.user if principal else None
        keys = getattr(ws.store, "idempotency", None)  # a SQL store's; none over a remote one
        result = await run_in_threadpool(idempotency.run, keys, user, key, digest, work)
        return JSONResponse({"result": result})

    endpoint.__name__ = f"{store}_{method}"
    endpoint.__doc__ = (getattr(rpc.STORES[store], method).__doc__ or "").strip() or None
    return endpoint


async def _json(request: Request) -> dict[str, Any]:
    require_json(request)
    raw = await read_limited(request, MAX_BODY)
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise InvalidArgumentError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidArgumentError("the body is nested too deeply") from None
    if not isinstance(body, dict):
        raise InvalidArgumentError("the body must be a JSON object with 'kwargs': {name: value}")
    return body


def _middleware(app: FastAPI, settings: ServerSettings) -> None:
    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        host = host_name(request.headers.get("host") or "")
        refusal = cross_origin_refusal(request.method, request.headers)
        if host not in settings.allowed_hosts and "*" not in settings.allowed_hosts:
            response: Response = error_response(
                InvalidArgumentError(f"host {host!r} is not allowed")
            )
        elif refusal:  # CSRF: with or without auth (`loopml ui` runs without)
            response = error_response(PermissionDeniedError(f"{request.url.path}: {refusal}"))
        else:
            request.state.principal = None
            try:
                if settings.auth and request.url.path not in HEALTH + ui.PUBLIC:
                    request.state.principal = await run_in_threadpool(
                        request.app.state.access.authenticate,
                        ui.credentials(request),  # the Bearer header, or the UI's cookie
                    )
                response = await call_next(request)
            except AuthenticationError as error:  # pages send browsers to /login instead
                is_page = ui.is_page(request.url.path)
                response = ui.to_login(request) if is_page else error_response(error)
            except LoopmlError as error:
                response = error_response(error)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
