"""Browser sessions: /login takes an API token and keeps it in an HttpOnly, SameSite=Strict
cookie, which the server's middleware accepts as it accepts `Authorization: Bearer`.
The middleware refuses every state-changing request that a browser sent from another origin
(/login and /logout included; `loopml.core.origin`).

Pages (every path outside /api/ and /openapi.json) answer a missing or refused credential with
a redirect to /login; the API keeps answering 401 with a JSON body.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from loopml.core.errors import AuthenticationError
from loopml.server.bodies import read_limited
from loopml.server.ui.render import render

COOKIE = "loopml_session"
MAX_AGE = 12 * 3600
MAX_FORM = 16 << 10
PUBLIC = ("/login",)  # reachable without credentials (with the health checks)
API_PATHS = ("/api/", "/openapi.json")

router = APIRouter(include_in_schema=False)


def credentials(request: Request) -> str | None:
    """The Authorization header, or else the session cookie as a Bearer credential.

    The cookie opens pages and GETs (such as artifact downloads) but never an API call that
    can write: SameSite keeps other sites out, yet another port of the same host is the same
    "site" to a browser, and the API reads a text/plain body as JSON, so a page there could
    otherwise send the cookie along with a write."""
    header = request.headers.get("authorization")
    if header:
        return header
    token = request.cookies.get(COOKIE)
    if not token or (request.method not in ("GET", "HEAD") and not is_page(request.url.path)):
        return None
    return f"Bearer {token}"


def is_page(path: str) -> bool:
    return not path.startswith(API_PATHS)


def to_login(request: Request) -> Response:
    """Where a page request without valid credentials goes."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if request.cookies.get(COOKIE):
        response.delete_cookie(COOKIE, path="/")  # revoked or unknown: drop it
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no host, no '//'): never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/runs"
    return target


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    if not request.app.state.settings.auth:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", section="login", next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    token, target = form.get("token", ""), _safe_next(form.get("next"))
    if not request.app.state.settings.auth:
        return RedirectResponse(target, status_code=303)
    try:
        principal = await run_in_threadpool(
            request.app.state.access.authenticate, f"Bearer {token.strip()}"
        )
    except AuthenticationError:
        request.state.principal = None
        refused = "That token was not accepted (unknown, revoked or mistyped)."
        return render(request, "login.html", status=401, section="login", next=target,
                      error=refused)  # fmt: skip
    request.state.principal = principal
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token.strip(), max_age=MAX_AGE, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")  # fmt: skip
    return response


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the login form), first value of each field."""
    body = await read_limited(request, MAX_FORM)
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
