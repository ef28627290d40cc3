"""Cross-site request forgery: whether a browser sent a state-changing request from a page of
another origin.

Browsers say where a request comes from: `Sec-Fetch-Site` (every current browser) and, for a
POST, `Origin`. A client that is not a browser (the loopml client, curl) sends neither and is
judged by its credentials alone. A page of another port of the same host is another origin
here, though it is the same "site" to SameSite cookies.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OWN = frozenset({"same-origin", "none"})  # "none": the user typed it or used a bookmark


def cross_origin_refusal(method: str, headers: Mapping[str, str]) -> str | None:
    """Why the request must be refused as cross-origin, or None. `headers` are lower-case."""
    if method.upper() in SAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site.strip().lower() in OWN:
            return None
        return f"a browser sent this {method} from another site (Sec-Fetch-Site: {site})"
    origin = headers.get("origin")
    if origin is None:
        return None
    host = headers.get("host", "")
    if urlsplit(origin.strip()).netloc.lower() == host.strip().lower() != "":
        return None
    return f"a browser sent this {method} from another origin ({origin}, not {host})"
