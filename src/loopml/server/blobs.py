"""Artifact bytes through the server, streamed both ways.

An upload is hashed while it streams to a temporary file and stored only if it hashes to the
digest in its URL, so a connection cut mid-upload leaves nothing visible and a retry starts
clean. Blobs belong to no project: writing (and asking which digests are missing) needs the
editor role on some project, so a token scoped to one project can log runs with artifacts;
reading needs viewer on "*", or viewer on the project of a run that logged the blob.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask

from loopml.artifacts.hashing import new_hasher
from loopml.core.auth import Principal, Role
from loopml.core.dirs import make_dirs
from loopml.core.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from loopml.server.access import editable_projects
from loopml.server.bodies import read_limited, require_json
from loopml.workspace import Workspace

PREFIX = "/api/v1/blobs"
MAX_DIGESTS = 10_000  # a /missing body has room for as many, quoted and separated
_DIGEST = re.compile(r"[0-9a-f]{64}")
# Described in the OpenAPI document; a path that does not match is a 400 before the handler.
Digest = Annotated[str, PathParam(pattern=f"^{_DIGEST.pattern}$", description="BLAKE3, hex")]


def add_routes(app: FastAPI) -> None:
    @app.post(f"{PREFIX}/missing", tags=["blobs"])
    async def missing(request: Request) -> JSONResponse:
        """Which of the given digests the server does not have."""
        _allow_write(request, Role.VIEWER)
        require_json(request)
        body = _parse(await read_limited(request, MAX_DIGESTS * 80))
        digests = body.get("digests") if isinstance(body, dict) else None
        if not isinstance(digests, list) or len(digests) > MAX_DIGESTS:
            raise InvalidArgumentError(f"send {{'digests': [...]}} with at most {MAX_DIGESTS}")
        checked = [_digest(d) for d in digests]
        found = await run_in_threadpool(_workspace(request).artifacts.missing, checked)
        return JSONResponse({"missing": found})

    @app.get(PREFIX + "/{digest}", tags=["blobs"])
    async def download(digest: Digest, request: Request) -> Response:
        """The blob's bytes, verified against the digest before they are sent."""
        digest = _digest(digest)
        await run_in_threadpool(_allow_read, request, digest)
        cas = _workspace(request).artifacts
        if not await run_in_threadpool(cas.has, digest):
            raise NotFoundError(f"blob {digest[:16]} not found")
        folder = make_dirs(_workspace(request).cache_dir / "downloads")
        copy = folder / f"{digest}.{os.getpid()}.{id(request)}"
        await run_in_threadpool(cas.get_file, digest, copy)  # verified before it is there
        return FileResponse(
            copy,
            media_type="application/octet-stream",
            background=BackgroundTask(copy.unlink, missing_ok=True),
        )

    @app.put(PREFIX + "/{digest}", tags=["blobs"])
    async def upload(digest: Digest, request: Request) -> JSONResponse:
        """Store the body if it hashes to `digest` (BLAKE3)."""
        _allow_write(request, Role.EDITOR)
        digest = _digest(digest)
        cas = _workspace(request).artifacts
        folder = make_dirs(_workspace(request).cache_dir / "uploads")
        fd, name = tempfile.mkstemp(dir=folder, prefix=".upload-")
        path = Path(name)
        try:
            hasher = new_hasher()
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.stream():
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.hexdigest() != digest:
                raise InvalidArgumentError(f"the body does not hash to {digest[:16]}: not stored")
            await run_in_threadpool(cas.put_file, path, digest=digest)
        finally:
            path.unlink(missing_ok=True)
        return JSONResponse({"digest": digest}, status_code=201)


def _parse(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidArgumentError("the body is not valid JSON: send {'digests': [...]}") from None


def _digest(value: object) -> str:
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise InvalidArgumentError(f"{value!r} is not a BLAKE3 digest (64 lowercase hex digits)")
    return value


def _workspace(request: Request) -> Workspace:
    return request.app.state.workspace  # type: ignore[no-any-return]


def _allow_write(request: Request, needed_everywhere: Role) -> None:
    """Editor on some project, or `needed_everywhere` on "*"."""
    principal: Principal | None = request.state.principal
    if principal is None or principal.may(needed_everywhere) or editable_projects(principal):
        return
    raise PermissionDeniedError(
        f"{principal.user} may not write artifacts: it needs the editor role on a project"
    )


def _allow_read(request: Request, digest: str) -> None:
    """Viewer on "*", or on the project of a run that logged this blob as an artifact."""
    principal: Principal | None = request.state.principal
    if principal is None or principal.may(Role.VIEWER):
        return
    access = request.app.state.access
    for run_id, _ in _workspace(request).store.runs.producers(digest):
        if principal.may(Role.VIEWER, access.project_of(run_id)):
            return
    raise PermissionDeniedError(
        f"{principal.user} may not read artifact {digest[:16]}: it needs the viewer role on "
        "every project ('*') or on the project of a run that logged it"
    )
