"""plotly.js, served from the copy inside the plotly Python package (never a CDN, never a
vendored file): one versioned URL, cached by browsers for a year, gzipped when they accept it."""

from __future__ import annotations

import functools
import gzip
import hashlib

from fastapi import APIRouter, Request
from fastapi.responses import Response

PATH = "/ui/static/plotly.js"
router = APIRouter(include_in_schema=False)


@functools.cache
def _plotly() -> tuple[bytes, bytes, str]:
    from plotly.offline import get_plotlyjs

    raw = get_plotlyjs().encode("utf-8")
    return raw, gzip.compress(raw, 6), hashlib.blake2b(raw, digest_size=12).hexdigest()


@functools.cache
def plotly_url() -> str:
    """The script's URL, with a version that changes when plotly does."""
    import plotly

    return f"{PATH}?v={plotly.__version__}"


@router.get(PATH)
def plotly_js(request: Request) -> Response:
    raw, packed, tag = _plotly()
    headers = {"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{tag}"',
               "Vary": "Accept-Encoding"}  # fmt: skip
    if request.headers.get("if-none-match") == f'"{tag}"':
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="text/javascript", headers=headers)
    return Response(raw, media_type="text/javascript", headers=headers)
