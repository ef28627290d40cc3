"""The HTTP face of a deployment (FastAPI): `/predict`, Open Inference Protocol v2,
`/feedback`, `/metrics` and health. Hot paths read the raw body and skip model validation
layers: the signature check is the validation.

Every route but the health probes answers only for a Host on the allow-list (against DNS
rebinding), refuses a state-changing request a browser sent from another origin (CSRF), and
wants the bearer token when one is set. Every error is a JSON body {"error": ...}: under
/v2 the Open Inference Protocol's {"error": "<message>"} alone, elsewhere with details.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib.metadata
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from loopml.core.entities import FrozenDict
from loopml.core.origin import SAFE_METHODS, cross_origin_refusal
from loopml.core.serving import Failure, Label, Prediction
from loopml.registry.loaded import Scores
from loopml.serving import oip, protocol
from loopml.serving.protocol import RequestError
from loopml.serving.routing import RoutingTable, Served
from loopml.serving.server import allowed_hosts, host_name
from loopml.serving.service import Saturated, ServeSettings, Service
from loopml.workspace import Workspace

log = logging.getLogger("loopml.serving")
OPEN_PATHS = ("/v2/health/live", "/v2/health/ready")
MAX_FEEDBACK = 10_000
MAX_ID = 128  # characters of a prediction id (ours have 32)
MAX_KNOWN_HOSTS = 256  # raw Host values remembered as allowed (a port each, at most)


def create_app(
    workspace: Workspace, deployment: str, settings: ServeSettings, *, host: str = "127.0.0.1"
) -> FastAPI:
    """The app of one deployment; `host` is the address it is bound to, which decides the
    Host header values it answers (see serving.server.allowed_hosts)."""
    service = Service(workspace, deployment, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.stop()

    app = FastAPI(title=f"loopml: {deployment}", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    app.state.service = service
    hosts = allowed_hosts(host, settings.allowed_hosts)
    app.add_middleware(_Guard, service=service, hosts=hosts)
    _error_handlers(app, service)
    _routes(app, service)
    return app


class _Guard:
    """Every request but the health probes: its Host must be on the allow-list (400), a
    browser must not have sent a POST from another origin (403), and with a token set it
    must carry it (401). A plain ASGI middleware reading the raw headers once: Starlette's
    BaseHTTPMiddleware costs a task and stream wrapping per request.

    The probes answer for any Host: they tell nothing but "up", and orchestrators and load
    balancers probe by an address (a pod's IP) that may not be one of this machine's."""

    def __init__(self, app: Any, service: Service, hosts: frozenset[str]) -> None:
        self.app, self.service, self.hosts = app, service, hosts
        self.any_host = "*" in hosts
        self.known: set[bytes] = set()
        token = service.settings.token
        self.token = token.encode() if token else None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            error = self._refusal(scope)
            if error is not None:
                await _error(error, self.service, _is_v2(scope["path"]))(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Any) -> RequestError | None:
        host = origin = site = authorization = None
        for name, value in scope["headers"]:  # names are lower-case bytes
            if name == b"host":
                host = value if host is None else host  # the first, as Starlette reads it
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                site = value
            elif name == b"authorization":
                authorization = value
        if not self.any_host and (host is None or host not in self.known):
            name = host_name(host.decode("latin-1")) if host is not None else ""
            if name not in self.hosts:
                return RequestError(400, f"host {name[:200]!r} is not allowed: this server "
                                    "answers only its own names (loopml serve "
                                    "--allowed-host NAME adds one)", host=name[:200])  # fmt: skip
            if len(self.known) < MAX_KNOWN_HOSTS:
                self.known.add(host)  # type: ignore[arg-type]
        method = scope["method"]
        if (origin is not None or site is not None) and method not in SAFE_METHODS:
            headers = {"host": (host or b"").decode("latin-1")}
            if origin is not None:
                headers["origin"] = origin.decode("latin-1")
            if site is not None:
                headers["sec-fetch-site"] = site.decode("latin-1")
            refusal = cross_origin_refusal(method, headers)
            if refusal:
                return RequestError(403, f"{scope['path']}: {refusal}")
        if self.token is not None and not _authorized(authorization, self.token):
            return RequestError(401, "missing or wrong bearer token")
        return None


def _error_handlers(app: FastAPI, service: Service) -> None:
    """Errors outside the routes' own handling as JSON too: an unknown path or method, and
    anything unexpected (a 500 with an error id to find it in the log, no details)."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error = RequestError(exc.status_code, str(exc.detail))
        response = _error(error, service, _is_v2(request.url.path))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def invalid(request: Request, exc: Exception) -> Response:
        error = RequestError(422, f"invalid request: {exc}")
        return _error(error, service, _is_v2(request.url.path))

    async def unexpected(request: Request, exc: Exception) -> Response:
        error_id = uuid.uuid4().hex[:12]
        log.error("unexpected error on %s (error id %s)", request.url.path, error_id,
                  exc_info=exc)  # fmt: skip
        error = RequestError(500, "internal error", error_id=error_id)
        return _error(error, service, _is_v2(request.url.path))

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unexpected)


def _routes(app: FastAPI, service: Service) -> None:
    @app.get("/v2/health/live")
    async def live() -> Response:
        if service.live:
            return JSONResponse({"live": True})
        stuck = round(service.saturated_for())
        return JSONResponse({"live": False, "error": f"every model worker has been stuck for "
                             f"{stuck}s: restart the process"}, status_code=503)  # fmt: skip

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        if service.ready:
            return JSONResponse({"ready": True})
        body: dict[str, Any] = {"ready": False}
        if service.saturated():
            body["error"] = "every model worker is stuck on a call that outlived its request"
        return JSONResponse(body, status_code=503)

    try:  # the installed distribution's version (the root package imports every layer)
        version = importlib.metadata.version("loopml")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    server = oip.server_metadata(version)

    @app.get("/v2")
    @app.get("/v2/")
    async def server_metadata() -> Response:
        return JSONResponse(server)

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def metadata(name: str, version: str | None = None) -> Response:
        try:
            table = _table(service)
            served = _lookup(service, table, name, version)
            versions = [label for label, _ in _versions(table)]
            body = oip.model_metadata(served.model, service.deployment, versions)
            return JSONResponse(body)
        except RequestError as error:
            return _error(error, service, v2=True)

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(name: str, version: str | None = None) -> Response:
        table = service.table
        if table is not None:
            try:
                _lookup(service, table, name, version)
            except RequestError as error:
                return _error(error, service, v2=True)
        ready = table is not None and service.ready
        return JSONResponse({"name": name, "ready": ready}, status_code=200 if ready else 503)

    # The two prediction routes are plain Starlette routes: FastAPI's per-request dependency
    # machinery (solving, an exit stack) does nothing for a handler that takes the raw request.
    async def infer(request: Request) -> Response:
        name, version = request.path_params["name"], request.path_params.get("version")
        try:
            started = time.perf_counter()
            document = await _document(request, service)
            table = _table(service)
            if version is None:  # the deployment's split: canary, primary
                served = _lookup(service, table, name, None, request.headers.get("x-request-key"))
            else:  # the caller's choice: that version, whatever the split
                served = _lookup(service, table, name, version)
            asked = oip.infer_request(document, served.model)
            shadow = served is not table.shadow
            ids, scores = await _answer(service, served, asked.frame, None, started, shadow)
            return JSONResponse(oip.infer_response(scores, served.model, ids, asked))
        except RequestError as error:
            return _error(error, service, v2=True)

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        try:
            instances = protocol.instances_of(await _document(request, service))
            served = _lookup(service, _table(service), None, None,
                             request.headers.get("x-request-key"))  # fmt: skip
            ids, scores = await _answer(service, served, instances, instances, started)
            body = {
                "predictions": protocol.to_list(scores.predictions),
                "prediction_ids": ids,
                "model": served.route.model,
                "model_version": served.route.version,
            }
            probabilities = protocol.probabilities(scores)
            if probabilities is not None:
                body["probabilities"] = probabilities
            return JSONResponse(body)
        except RequestError as error:
            return _error(error, service)

    app.add_route("/v2/models/{name}/infer", infer, methods=["POST"])
    app.add_route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"])
    app.add_route("/predict", predict, methods=["POST"])

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        try:
            labels = _labels(await _document(request, service))
            unknown = await asyncio.get_running_loop().run_in_executor(
                None, _store_labels, service, labels
            )  # ids of other deployments' predictions are unknown here
            body: dict[str, Any] = {"stored": len(labels) - len(unknown),
                                    "unknown_prediction_ids": unknown}  # fmt: skip
            if len(unknown) < len(labels):
                return JSONResponse(body)
            error = f"no prediction of deployment {service.deployment!r} has these ids"
            return JSONResponse({"error": error, **body}, status_code=404)
        except RequestError as error:
            return _error(error, service)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")


# -- request handling -----------------------------------------------------------------------
def _authorized(given: bytes | None, token: bytes) -> bool:
    return (
        given is not None and given.startswith(b"Bearer ") and hmac.compare_digest(given[7:], token)
    )


async def _document(request: Request, service: Service) -> Any:
    protocol.check_content_type(request.headers.get("content-type"))
    limit = service.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"body of {declared} bytes is over the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(413, f"body is over the {limit}-byte limit")
    return protocol.load_json(bytes(body))


def _table(service: Service) -> RoutingTable:
    table = service.table
    if table is None or service.draining:
        raise RequestError(503, "not ready", retry_after=1)
    return table


def _lookup(
    service: Service,
    table: RoutingTable,
    name: str | None,
    version: str | None,
    key: str | None = None,
) -> Served:
    """The model that answers for `name` (the deployment's, or its primary model's; None:
    any) and `version`: without one, the deployment's split (by `key`); with one, exactly
    that version if the deployment serves it (primary, canary or shadow), else a 404."""
    primary = table.primary.route.model
    if version is None:
        if name is not None and name not in (service.deployment, primary):
            raise RequestError(404, f"no model {name!r} here; this server serves "
                               f"{service.deployment!r}")  # fmt: skip
        return table.choose(key)
    versions = _versions(table)
    if name in (service.deployment, primary):
        found = dict(versions).get(version)
        if found is not None:
            return found
    models = {s.route.model for s in table.served}
    if name != service.deployment and name not in models:
        raise RequestError(404, f"no model {name!r} here; this server serves "
                           f"{service.deployment!r}")  # fmt: skip
    for served in table.served:
        if served.route.model == name and str(served.route.version) == version:
            return served
    serving = ", ".join(f"{label} ({s.route.mode.value})" for label, s in versions)
    raise RequestError(404, f"{name!r} has no version {version[:40]!r} here; deployment "
                       f"{service.deployment!r} serves versions {serving}")  # fmt: skip


def _versions(table: RoutingTable) -> list[tuple[str, Served]]:
    """The versions a request may name, with the model answering each (primary, canary,
    shadow): the version number for the primary's model, MODEL:VERSION for another model."""
    primary = table.primary.route.model
    found: dict[str, Served] = {}
    for served in table.served:
        route = served.route
        label = str(route.version) if route.model == primary else f"{route.model}:{route.version}"
        found.setdefault(label, served)
    return list(found.items())


async def _answer(
    service: Service,
    served: Served,
    data: Any,
    rows: list[dict] | None,
    started: float,
    shadow: bool = True,
) -> tuple[list[str], Scores]:
    """Predict, log and (off the request path, unless `shadow` is false) shadow; return
    prediction ids and scores."""
    if service.overloaded():
        raise RequestError(503, "overloaded: too many requests waiting", retry_after=1)
    if service.saturated():
        raise _saturated(service)
    allow_missing = service.settings.allow_missing
    frame = protocol.prepare(served.model, data, allow_missing=allow_missing)
    labels = (served.route.mode.value, served.route.model, str(served.route.version))
    try:
        scores = await service.predict(served, frame)
    except TimeoutError:
        service.metrics.errors.labels("timeout").inc()
        _log_failure(service, served, "timeout")
        limit = service.settings.request_timeout
        raise RequestError(504, f"the model took longer than {limit}s") from None
    except Saturated:
        raise _saturated(service) from None
    except Exception:
        if allow_missing and (problem := _missing_values(frame)):
            raise RequestError(422, f"the model failed on {problem}: it does not take "
                               "missing values") from None  # fmt: skip
        error_id = uuid.uuid4().hex[:12]
        log.exception("model %s failed (error id %s)", served.route.uri, error_id)
        service.metrics.errors.labels("model").inc()
        _log_failure(service, served, "model")
        raise RequestError(500, "the model failed on this input", error_id=error_id) from None
    elapsed = time.perf_counter() - started
    service.metrics.requests.labels(*labels, "200").inc()
    service.metrics.latency.labels(*labels).observe(elapsed)
    records = rows if rows is not None else frame.to_dict("records")
    ids = _log(service, served, records, scores, elapsed)
    table = service.table
    if shadow and table is not None and table.shadow is not None:
        _shadow(service, table.shadow, frame, records)
    return ids, scores


def _saturated(service: Service) -> RequestError:
    service.metrics.saturated.inc()
    wait = max(1, math.ceil(service.settings.request_timeout))
    return RequestError(503, "every model worker is stuck on a call that outlived its request; "
                        "try again later", retry_after=wait)  # fmt: skip


def _missing_values(frame: pd.DataFrame) -> str | None:
    """'null or NaN in column x', when the frame holds a missing value somewhere."""
    missing = frame.isna().any()
    names = [str(name) for name in missing.index[missing.to_numpy()]]
    return f"null or NaN in column {names[0]!r}" if names else None


def _log(
    service: Service, served: Served, rows: list[dict], scores: Scores, seconds: float
) -> list[str]:
    now = datetime.now(UTC)
    values = protocol.to_list(scores.predictions)
    probabilities = protocol.probabilities(scores) or [None] * len(values)
    if not protocol.all_finite(rows):  # JSON in the store has no NaN (PostgreSQL refuses it)
        rows = [protocol.finite_row(row) for row in rows]
    ids = [uuid.uuid4().hex for _ in rows]
    each = seconds * 1000 / max(1, len(rows))
    route = served.route
    service.logger.log([
        Prediction(i, service.deployment, route.model, route.version, route.mode, now,
                   row, value, each,  # type: ignore[arg-type]
                   probabilities=None if proba is None or None in proba.values()
                   else FrozenDict(proba))
        for i, row, value, proba in zip(ids, rows, values, probabilities, strict=False)
    ])  # fmt: skip
    return ids


def _log_failure(service: Service, served: Served, reason: str) -> None:
    route = served.route
    failure = Failure(service.deployment, route.model, route.version, route.mode,
                      datetime.now(UTC), reason)  # fmt: skip
    service.logger.log([failure])


def _shadow(service: Service, shadow: Served, frame: pd.DataFrame, rows: list[dict]) -> None:
    if service.shadow_busy >= service.settings.max_concurrency:
        service.metrics.shadow_skipped.inc()
        return

    async def run() -> None:
        service.shadow_busy += 1
        started = time.perf_counter()
        try:
            prepared = protocol.prepare(shadow.model, frame)
            scores = await service.predict(shadow, prepared)
            _log(service, shadow, rows, scores, time.perf_counter() - started)
        except Exception:  # a shadow never affects the answer
            service.metrics.errors.labels("shadow").inc()
        finally:
            service.shadow_busy -= 1

    service.keep(asyncio.ensure_future(run()))


def _labels(document: Any) -> list[Label]:
    if not isinstance(document, list) or not document:
        raise RequestError(422, 'expected [{"prediction_id": ..., "label": ...}, ...]')
    if len(document) > MAX_FEEDBACK:
        raise RequestError(413, f"at most {MAX_FEEDBACK} labels per request")
    labels = []
    for item in document:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("prediction_id"), str)
            or ("label" not in item)
        ):
            raise RequestError(422, "every item needs a string prediction_id and a label")
        if len(item["prediction_id"]) > MAX_ID:
            raise RequestError(422, f"a prediction_id has at most {MAX_ID} characters")
        if not protocol.all_finite([item]):
            raise RequestError(422, f"the label of {item['prediction_id'][:64]!r} is NaN or "
                               "infinite")  # fmt: skip
        labels.append(Label(item["prediction_id"], item["label"]))
    return labels


def _store_labels(service: Service, labels: list[Label]) -> list[str]:
    """Store labels for this deployment's predictions; return the ids that are not its own
    (unknown, or another deployment's: a label there would corrupt its monitoring)."""
    service.logger.flush()  # a prediction answered a moment ago may still be queued
    add = service.workspace.store.predictions.add_labels
    unknown = add(labels, deployment=service.deployment)
    if unknown and service.settings.workers > 1:
        # Another worker may have answered it and not written it yet: wait out its log interval.
        time.sleep(2 * service.logger.interval)
        missing = set(unknown)
        unknown = add([lb for lb in labels if lb.prediction_id in missing],
                      deployment=service.deployment)  # fmt: skip
    return unknown


def _is_v2(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def _error(error: RequestError, service: Service, v2: bool = False) -> Response:
    """The error as JSON: under /v2 the protocol's {"error": message} alone; elsewhere with
    its details (error_id, column, row, ...). Retry-After is a header either way."""
    service.metrics.errors.labels(str(error.status)).inc()
    headers = (
        {"Retry-After": str(error.details["retry_after"])}
        if "retry_after" in (error.details)
        else None
    )
    body = oip.error_body(error) if v2 else error.body()
    return JSONResponse(body, status_code=error.status, headers=headers)
