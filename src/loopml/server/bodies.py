"""Reading request bodies: JSON only on the API, and never more than a route's limit.

A body is refused with 413 as soon as it is known to be too large (its Content-Length, or
the bytes streamed so far), so a client cannot make the server read or hold a huge body."""

from __future__ import annotations

from fastapi import Request

from loopml.core.errors import PayloadTooLargeError, UnsupportedMediaTypeError


def require_json(request: Request) -> None:
    """The API reads JSON only: a browser cannot send that content type to another origin
    without asking first (CORS preflight, which this server never grants), while it can send
    text/plain or a form to anyone."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise UnsupportedMediaTypeError(
            f"{request.url.path}: send the body as application/json (got {kind or 'no type'})"
        )


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, or PayloadTooLargeError as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(request, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(request: Request, limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"{request.url.path}: the body is over {_size(limit)}")


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"
