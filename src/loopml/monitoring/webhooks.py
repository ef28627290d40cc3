"""Deliver a JSON payload to a webhook without letting it reach internal addresses (SSRF).

A webhook URL comes from configuration, yet where it leads is decided by DNS and by whatever the
receiver answers; either could point a request at a loopback service, a private network or the
cloud metadata endpoint (169.254.169.254). So, for every hop:

1. The host is resolved here (`socket.getaddrinfo`, bounded in time), and the hop is refused if
   ANY address it resolves to is loopback, link-local, private, reserved or otherwise not public,
   unless the webhook's `allow_private` allows that address (`true`, or a list of networks).
   Unspecified and multicast addresses are refused always. IPv6 forms that embed an IPv4
   address (`::ffff:10.0.0.1`, 6to4, Teredo, NAT64) are judged by that address too.
2. The request is sent to the vetted IP itself, never to the name: the URL's host is replaced by
   the IP, the `Host` header carries the name, and for https the TLS server name (SNI) and the
   certificate check stay on the name (httpcore's `sni_hostname` extension sets the name that
   `ssl` verifies). A second DNS answer (DNS rebinding) therefore can never be used.
3. Redirects are not followed by httpx; at most MAX_REDIRECTS are followed here, each Location
   vetted as in 1., never from https down to http, and configured headers (which may hold
   secrets) are dropped once a redirect leaves the configured origin.

Only http and https are spoken; no proxy, .netrc or other environment setting applies
(`trust_env=False`). Response bodies are never read. `deliver` never raises: it returns a
`Delivery` saying what happened. Nothing logged or returned contains the URL's path or query
(where services such as Slack keep their secret) or header values.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

from loopml.core.alerting import Address, Webhook
from loopml.core.errors import LoopmlError

if TYPE_CHECKING:
    import httpx

MAX_REDIRECTS = 3
MAX_ADDRESSES = 4  # resolved addresses tried in turn when one does not accept the connection
ATTEMPTS = 2  # the first try and one retry, on a network error or a 5xx answer
RETRY_PAUSE = 0.5
REDIRECTS = (301, 302, 307, 308)  # followed with the same POST; others are final answers
ALWAYS_REFUSED = ("unspecified", "multicast")
USER_AGENT = "loopml-webhook/1"

log = logging.getLogger("loopml.monitoring.webhooks")


class RefusedTarget(LoopmlError):
    """A webhook hop leads to an address the webhook is not allowed to reach."""


class DeliveryError(LoopmlError):
    """A failure worth one more attempt: name resolution, the network, a timeout."""


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    webhook: str
    ok: bool
    status: int | None = None  # the final HTTP status, when an answer came
    attempts: int = 0
    redirects: int = 0
    refused: bool = False  # stopped by the address checks
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- vetting -------------------------------------------------------------------------------
def non_public(address: Address) -> str | None:
    """Why `address` is not a public unicast address (`"loopback"`, `"private"`, ...), or None."""
    for candidate in (*_embedded(address), address):  # the embedded IPv4 names it better
        reason = _category(candidate)
        if reason is not None:
            return reason
    return None


def _category(ip: Address) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"  # shared (100.64/10), documentation, benchmarking, ...
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded(ip: Address) -> list[Address]:
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[Address | None] = [ip.ipv4_mapped, ip.sixtofour]
    if ip.teredo:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def vet(url: str, webhook: Webhook, *, timeout: float | None = None) -> list[Address]:
    """The addresses `url`'s host resolves to, once every one of them is allowed for `webhook`.

    Raises RefusedTarget naming the host, the address and why, or DeliveryError when the
    name does not resolve in time.
    """
    parts = _parts(url)
    host = parts.hostname or ""
    addresses = resolve(host, _port(parts), webhook.timeout if timeout is None else timeout)
    for address in addresses:
        reason = non_public(address)
        if reason is None:
            continue
        if reason in ALWAYS_REFUSED:
            raise RefusedTarget(
                f"webhook {webhook.name!r}: {host} resolves to {address}, which is {reason}; "
                "a webhook needs a unicast address"
            )
        if not webhook.allows(address):
            raise RefusedTarget(
                f"webhook {webhook.name!r}: {host} resolves to {address}, which is {reason}; "
                "refused (allow it with allow_private under webhooks: in loopml.yaml)"
            )
    return addresses


def resolve(host: str, port: int, timeout: float) -> list[Address]:
    """Every address `host` resolves to (a literal IP is itself), waiting at most `timeout`."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    outcome: list[Any] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:
            outcome.append(exc)

    # getaddrinfo cannot be given a deadline: it runs in a daemon thread that is left behind if
    # it hangs, so the caller waits `timeout` at most.
    thread = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise DeliveryError(f"resolving {host} took longer than {timeout:g} s")
    if isinstance(outcome[0], Exception):
        raise DeliveryError(f"cannot resolve {host}: {outcome[0]}")
    addresses: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in outcome[0]:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise DeliveryError(f"{host} resolves to no address")
    return addresses


# -- delivery ------------------------------------------------------------------------------
def deliver(webhook: Webhook, payload: Mapping[str, Any]) -> Delivery:
    """POST `payload` as JSON to `webhook`: one retry at most, never raising."""
    host = _safe_host(webhook.url)
    try:
        body = json.dumps(payload, default=str, allow_nan=False).encode()
    except ValueError as exc:
        return Delivery(webhook.name, False, error=f"the payload is not valid JSON: {exc}")
    status: int | None = None
    error = "not attempted"
    for attempt in range(1, ATTEMPTS + 1):
        if attempt > 1:
            time.sleep(RETRY_PAUSE)
        try:
            status, redirects = _post(webhook, body)
        except RefusedTarget as exc:
            log.warning("%s", exc)
            return Delivery(webhook.name, False, attempts=attempt, refused=True, error=str(exc))
        except DeliveryError as exc:
            status, error = None, str(exc)
            continue
        except Exception as exc:  # a bad TLS setup, an invalid answer: report, never raise
            error = f"{type(exc).__name__}: {exc}"
            log.warning("webhook %r (%s): %s", webhook.name, host, error)
            return Delivery(webhook.name, False, attempts=attempt, error=error)
        if 200 <= status < 300:
            return Delivery(webhook.name, True, status, attempt, redirects)
        error = f"{host} answered HTTP {status}"
        if status < 500:  # the receiver refused this payload: sending it again will not help
            log.warning("webhook %r: %s", webhook.name, error)
            return Delivery(webhook.name, False, status, attempt, redirects, error=error)
    log.warning("webhook %r: %s (after %d attempts)", webhook.name, error, ATTEMPTS)
    return Delivery(webhook.name, False, status, ATTEMPTS, error=error)


def _post(webhook: Webhook, body: bytes) -> tuple[int, int]:
    """One attempt, following redirects by hand: (final status, redirects followed)."""
    import httpx  # here: a check that notifies no webhook does not import it

    url, headers = webhook.url, dict(webhook.headers)
    deadline = time.monotonic() + webhook.timeout * (MAX_REDIRECTS + 1)
    with httpx.Client(timeout=webhook.timeout, follow_redirects=False, trust_env=False,
                      verify=_verify(webhook)) as client:  # fmt: skip
        for hop in range(MAX_REDIRECTS + 1):
            if time.monotonic() > deadline:
                raise DeliveryError(f"gave up after {hop} redirects: the time budget ran out")
            status, location = _hop(client, webhook, url, headers, body)
            if status not in REDIRECTS or not location:
                return status, hop
            if hop == MAX_REDIRECTS:
                break
            target = urljoin(url, location)
            _check_redirect(webhook, url, target)
            if _origin(target) != _origin(url):
                headers = {}  # configured headers stay with the configured origin
            url = target
    raise RefusedTarget(f"webhook {webhook.name!r}: more than {MAX_REDIRECTS} redirects")


def _hop(
    client: httpx.Client, webhook: Webhook, url: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, str | None]:
    import httpx

    parts = _parts(url)
    name = _ascii_host(parts.hostname or "")
    addresses = vet(url, webhook)
    host_header = name if parts.port is None else f"{name}:{parts.port}"
    send = {**headers, "Host": host_header, "Content-Type": "application/json",
            "User-Agent": USER_AGENT}  # fmt: skip
    extensions = {"sni_hostname": name} if parts.scheme == "https" else {}
    failure = ""
    for address in addresses[:MAX_ADDRESSES]:
        try:
            with client.stream("POST", _pinned(parts, address), content=body, headers=send,
                               extensions=extensions) as response:  # fmt: skip
                return response.status_code, response.headers.get("location")
        except httpx.ConnectError as exc:  # try the next address of the same, vetted host
            failure = f"cannot connect to {name} ({address}): {exc}"
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise DeliveryError(f"{name} ({address}): {type(exc).__name__}: {exc}") from None
    raise DeliveryError(failure)


def _pinned(parts: SplitResult, address: Address) -> str:
    """`parts` with its host replaced by the vetted `address` (the connection goes there)."""
    literal = str(address).replace("%", "%25")
    host = f"[{literal}]" if address.version == 6 else literal
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _check_redirect(webhook: Webhook, source: str, target: str) -> None:
    scheme = urlsplit(target).scheme
    if scheme not in ("http", "https"):
        raise RefusedTarget(f"webhook {webhook.name!r}: redirect to a {scheme or 'bad'} URL")
    if urlsplit(source).scheme == "https" and scheme == "http":
        raise RefusedTarget(f"webhook {webhook.name!r}: redirect from https down to http")
    _parts(target)  # a host and a valid port, or RefusedTarget


def _parts(url: str) -> SplitResult:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises on an invalid port)
    except ValueError as exc:
        raise RefusedTarget(f"invalid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget(f"not an http(s) URL with a host: {_safe_host(url)}")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("URLs with credentials (user:password@) are refused")
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), _port(parts)


def _ascii_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise RefusedTarget(f"{host!r} is not a valid host name") from None


def _safe_host(url: str) -> str:
    """The URL's scheme and host only, fit for logs (the path may hold a secret)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port
                                                              else "")  # fmt: skip
    except ValueError:
        return "<invalid URL>"


def _verify(webhook: Webhook) -> ssl.SSLContext | bool:
    if webhook.ca_file is None:
        return True
    return ssl.create_default_context(cafile=str(webhook.ca_file))
