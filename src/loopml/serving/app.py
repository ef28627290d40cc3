"""The HTTP face of a deployment (FastAPI): `/predict`, Open Inference Protocol v2,
`/feedback`, `/metrics` and health. Hot paths read the raw body and skip model validation
layers: the signature check is the validation."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from loopml.core.entities import FrozenDict
from loopml.core.serving import Failure, Label, Prediction
from loopml.registry.loaded import Scores
from loopml.serving import protocol
from loopml.serving.protocol import RequestError
from loopml.serving.routing import Served
from loopml.serving.service import ServeSettings, Service
from loopml.workspace import Workspace

log = logging.getLogger("loopml.serving")
OPEN_PATHS = ("/v2/health/live", "/v2/health/ready")
MAX_FEEDBACK = 10_000


def create_app(workspace: Workspace, deployment: str, settings: ServeSettings) -> FastAPI:
    service = Service(workspace, deployment, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.stop()

    app = FastAPI(title=f"loopml: {deployment}", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    app.state.service = service
    _routes(app, service)
    return app


class _TokenGuard:
    """Refuses every request without the bearer token but the health probes (a plain ASGI
    middleware: Starlette's BaseHTTPMiddleware costs a task and stream wrapping per request)."""

    def __init__(self, app: Any, service: Service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        token = self.service.settings.token
        if token and scope["type"] == "http":
            request = Request(scope)
            if request.url.path not in OPEN_PATHS and not _authorized(request, token):
                error = RequestError(401, "missing or wrong bearer token")
                await _error(error, self.service)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _routes(app: FastAPI, service: Service) -> None:
    if service.settings.token:
        app.add_middleware(_TokenGuard, service=service)

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        body = {"ready": service.ready}
        return JSONResponse(body, status_code=200 if service.ready else 503)

    @app.get("/v2/models/{name}")
    async def metadata(name: str) -> Response:
        try:
            served = _served_for(service, name)
            return JSONResponse(protocol.v2_metadata(served.model, service.deployment))
        except RequestError as error:
            return _error(error, service)

    # The two prediction routes are plain Starlette routes: FastAPI's per-request dependency
    # machinery (solving, an exit stack) does nothing for a handler that takes the raw request.
    async def infer(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            document = await _document(request, service)
            served = _served_for(service, name, request.headers.get("x-request-key"))
            frame = protocol.tensors_of(document, served.model)
            outcome = await _answer(service, served, frame, None, started=time.perf_counter())
            ids, scores = outcome
            body = protocol.v2_output(scores, served.model, ids, document.get("id"))
            return JSONResponse(body)
        except RequestError as error:
            return _error(error, service)

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        try:
            instances = protocol.instances_of(await _document(request, service))
            served = _served_for(service, None, request.headers.get("x-request-key"))
            ids, scores = await _answer(service, served, instances, instances, started)
            body = {
                "predictions": protocol.to_list(scores.predictions),
                "prediction_ids": ids,
                "model": served.route.model,
                "model_version": served.route.version,
            }
            probabilities = scores.by_class()
            if probabilities is not None:
                body["probabilities"] = probabilities
            return JSONResponse(body)
        except RequestError as error:
            return _error(error, service)

    app.add_route("/v2/models/{name}/infer", infer, methods=["POST"])
    app.add_route("/predict", predict, methods=["POST"])

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        try:
            labels = _labels(await _document(request, service))
            unknown = await asyncio.get_running_loop().run_in_executor(
                None, _store_labels, service, labels
            )
            body = {"stored": len(labels) - len(unknown), "unknown_prediction_ids": unknown}
            return JSONResponse(body, status_code=404 if len(unknown) == len(labels) else 200)
        except RequestError as error:
            return _error(error, service)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")


# -- request handling -----------------------------------------------------------------------
def _authorized(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    return given.startswith("Bearer ") and hmac.compare_digest(given[7:], token)


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


def _served_for(service: Service, name: str | None, key: str | None = None) -> Served:
    table = service.table
    if table is None or service.draining:
        raise RequestError(503, "not ready", retry_after=1)
    if name is not None and name not in (service.deployment, table.primary.route.model):
        raise RequestError(404, f"no model {name!r} here; this server serves "
                           f"{service.deployment!r}")  # fmt: skip
    return table.choose(key)


async def _answer(
    service: Service, served: Served, data: Any, rows: list[dict] | None, started: float
) -> tuple[list[str], Scores]:
    """Predict, log and (off the request path) shadow; return prediction ids and scores."""
    if service.overloaded():
        raise RequestError(503, "overloaded: too many requests waiting", retry_after=1)
    frame = protocol.prepare(served.model, data)
    labels = (served.route.mode.value, served.route.model, str(served.route.version))
    try:
        scores = await service.predict(served, frame)
    except TimeoutError:
        service.metrics.errors.labels("timeout").inc()
        _log_failure(service, served, "timeout")
        limit = service.settings.request_timeout
        raise RequestError(504, f"the model took longer than {limit}s") from None
    except Exception:
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
    if table is not None and table.shadow is not None:
        _shadow(service, table.shadow, frame, records)
    return ids, scores


def _log(
    service: Service, served: Served, rows: list[dict], scores: Scores, seconds: float
) -> list[str]:
    now = datetime.now(UTC)
    values = protocol.to_list(scores.predictions)
    probabilities = scores.by_class() or [None] * len(values)
    ids = [uuid.uuid4().hex for _ in rows]
    each = seconds * 1000 / max(1, len(rows))
    route = served.route
    service.logger.log([
        Prediction(i, service.deployment, route.model, route.version, route.mode, now,
                   row, value, each,  # type: ignore[arg-type]
                   probabilities=None if proba is None else FrozenDict(proba))
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
        labels.append(Label(item["prediction_id"], item["label"]))
    return labels


def _store_labels(service: Service, labels: list[Label]) -> list[str]:
    service.logger.flush()  # a prediction answered a moment ago may still be queued
    return service.workspace.store.predictions.add_labels(labels)


def _error(error: RequestError, service: Service) -> Response:
    service.metrics.errors.labels(str(error.status)).inc()
    headers = (
        {"Retry-After": str(error.details["retry_after"])}
        if "retry_after" in (error.details)
        else None
    )
    return JSONResponse(error.body(), status_code=error.status, headers=headers)
