"""The metadata store behind a loopml server: the same interface as the SQL store, so code
runs unchanged with LOOPML_SERVER_URI=http://host:port (and LOOPML_TOKEN).

Each interface gets a proxy class whose abstract methods all go through one `_call`: the
arguments by name, encoded as tagged JSON, the answer decoded into the same records a local
store returns, and a server error raised again as the same loopml error class.

Calls are retried on connection errors, 429, 502, 503 and 504 with exponential backoff and
jitter, honouring Retry-After; every attempt of one call carries the same Idempotency-Key, so a
write whose answer was lost is not applied twice. When the retries run out on any of those, the
call raises StoreUnavailableError (a run's end is then spooled, not lost).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import httpx

from loopml.core.errors import LoopmlError, StoreUnavailableError, error_class
from loopml.store import rpc
from loopml.store.base import MetadataStore

RETRIES = 6
BASE_DELAY = 0.1
MAX_DELAY = 5.0
RETRY_STATUS = frozenset({429, 502, 503, 504})


class RemoteClient:
    """HTTP to one server, with retries; shared by the proxies of one RemoteMetadataStore."""

    def __init__(
        self, uri: str, token: str | None, *, timeout: float = 30.0, retries: int = RETRIES
    ) -> None:
        self.uri = uri.rstrip("/")
        self.retries = retries
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.uri, headers=headers, timeout=timeout)
        self._keys: dict[int, list[Any]] = {}  # thread -> [prefix, count] inside `keyed`

    @contextlib.contextmanager
    def keyed(self, prefix: str) -> Iterator[None]:
        """Calls in this block (on this thread) carry idempotency keys `prefix:1`, `prefix:2`,
        ...: the same calls made again with the same prefix are applied once."""
        previous = self._keys.get(threading.get_ident())
        self._keys[threading.get_ident()] = [prefix, 0]
        try:
            yield
        finally:
            if previous is None:
                self._keys.pop(threading.get_ident(), None)
            else:
                self._keys[threading.get_ident()] = previous

    def _next_key(self) -> str:
        slot = self._keys.get(threading.get_ident())
        if slot is None:
            return uuid.uuid4().hex
        slot[1] += 1
        return f"{slot[0]}:{slot[1]}"

    def call(self, store: str, method: str, arguments: dict[str, Any]) -> Any:
        body = {"kwargs": rpc.encode_arguments(arguments)}
        headers = {"Idempotency-Key": self._next_key()}
        response = self.request("POST", f"{rpc.API_PREFIX}/{store}/{method}", json=body,
                                headers=headers)  # fmt: skip
        return rpc.decode_result(response.json()["result"])

    def request(self, verb: str, path: str, **options: Any) -> httpx.Response:
        """With `content_factory`, a callable making the body anew for each attempt."""
        factory = options.pop("content_factory", None)
        delay = BASE_DELAY
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            if factory is not None:
                options["content"] = factory()
            try:
                response = self.http.request(verb, path, **options)
            except httpx.TransportError as exc:
                if last:
                    raise StoreUnavailableError(f"loopml server {self.uri}: {exc}") from None
                wait = delay
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUS:
                    raise _error(response)
                if last:  # still busy or down behind a proxy: unavailable, as a refusal is
                    raise _unavailable(self.uri, response, self.retries + 1)
                wait = _retry_after(response) or delay
            time.sleep(min(MAX_DELAY, wait) * (0.5 + random.random() / 2))
            delay = min(MAX_DELAY, delay * 2)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.http.close()


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _unavailable(uri: str, response: httpx.Response, attempts: int) -> StoreUnavailableError:
    """A retryable answer (429, 502, 503, 504) to every attempt: callers treat it as they treat
    a refused connection (a run's end goes to the spool instead of being lost)."""
    cause = _error(response)
    return StoreUnavailableError(
        f"loopml server {uri} answered {response.status_code} to {attempts} attempts: {cause}"
    )


def _error(response: httpx.Response) -> LoopmlError:
    try:
        detail = response.json()["error"]
        return error_class(detail["type"])(detail["message"])
    except (ValueError, KeyError, TypeError):
        text = response.text[:300]
        return LoopmlError(f"loopml server answered {response.status_code}: {text}")


def _proxy_class(store: str, interface: type) -> type:
    def make(method: str) -> Any:
        def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
            return self._client.call(store, method, rpc.call_arguments(store, method, args,
                                                                       kwargs))  # fmt: skip

        forward.__name__ = method
        forward.__doc__ = getattr(interface, method).__doc__
        return forward

    namespace: dict[str, Any] = {name: make(name) for name in rpc.methods(store)}
    namespace["__init__"] = lambda self, client: setattr(self, "_client", client)
    return type(f"Remote{interface.__name__}", (interface,), namespace)


@cache
def _proxies() -> dict[str, type]:
    return {name: _proxy_class(name, interface) for name, interface in rpc.STORES.items()}


class RemoteMetadataStore(MetadataStore):
    def __init__(self, uri: str, token: str | None = None) -> None:
        self.uri = uri
        self.client = RemoteClient(uri, token)
        for name, proxy in _proxies().items():
            setattr(self, name, proxy(self.client))

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"RemoteMetadataStore({self.uri!r})"
