"""SSRF-safe webhook delivery against real HTTP(S) receivers on loopback: internal addresses and
redirects to them are refused unless allowed; each redirect hop is vetted on its own."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Iterator
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from loopml.core.alerting import Webhook
from loopml.monitoring.webhooks import (
    MAX_REDIRECTS,
    RefusedTarget,
    _pinned,
    deliver,
    non_public,
    vet,
)
from tests.monitoring.receiver import Receiver, Route, server_tls, tls_files

PAYLOAD = {"event": "loopml.alert", "rule": "drift", "value": 0.75}
LOOPBACK_ONLY = (ip_network("127.0.0.1/32"),)


def hook(url: str, **kwargs) -> Webhook:
    return Webhook("ops", url, **kwargs)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def second() -> Iterator[Receiver]:
    """Another receiver on another loopback address (Linux routes all of 127/8 to lo)."""
    server = Receiver("127.0.0.2")
    yield server
    server.close()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.1.2.3:8080/hook", "loopback"),
        ("http://10.0.0.1/hook", "private"),
        ("http://172.16.5.4/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
        ("http://[::1]/hook", "loopback"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fc00::1]/hook", "private"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped
        ("http://[64:ff9b::a00:1]/hook", "private"),  # NAT64 of 10.0.0.1
        ("http://[2002:a00:1::]/hook", "private"),  # 6to4 of 10.0.0.1
        ("http://100.64.0.1/hook", "non-public"),  # carrier-grade NAT
        ("http://240.0.0.1/hook", "reserved"),
        ("http://localhost/hook", "loopback"),  # a name that resolves to loopback
    ],
)
def test_internal_targets_are_refused_without_an_allowance(url: str, reason: str) -> None:
    with pytest.raises(RefusedTarget, match=f"which is {reason}; refused") as caught:
        vet(url, hook(url))
    assert "allow_private" in str(caught.value) and "webhook 'ops'" in str(caught.value)


@pytest.mark.parametrize("url", ["http://0.0.0.0/hook", "http://224.0.0.1/hook"])
def test_unspecified_and_multicast_are_refused_even_when_allowed(url: str) -> None:
    with pytest.raises(RefusedTarget, match="needs a unicast address"):
        vet(url, hook(url, allow_private=True))


def test_public_addresses_pass_and_the_allowance_is_per_network() -> None:
    url = "https://93.184.215.14/hook"
    assert vet(url, hook(url)) == [ipaddress.ip_address("93.184.215.14")]
    assert non_public(ipaddress.ip_address("2606:4700::1111")) is None
    lab = hook("http://10.1.2.3/", allow_private=(ip_network("10.1.0.0/16"),))
    assert vet("http://10.1.2.3/", lab) == [ipaddress.ip_address("10.1.2.3")]
    with pytest.raises(RefusedTarget, match=r"10\.2\.0\.1, which is private"):
        vet("http://10.2.0.1/", lab)


def test_the_connection_goes_to_the_vetted_address() -> None:
    parts = urlsplit("https://hooks.example.com:8443/a/b?token=x#frag")
    assert _pinned(parts, ipaddress.ip_address("93.184.215.14")) == (
        "https://93.184.215.14:8443/a/b?token=x"
    )
    assert _pinned(urlsplit("http://h.example.com"), ipaddress.ip_address("2606:4700::1")) == (
        "http://[2606:4700::1]/"
    )


def test_loopback_is_refused_before_any_request(receiver: Receiver) -> None:
    for url in (receiver.url(), receiver.url(host="localhost")):
        delivery = deliver(hook(url), PAYLOAD)
        assert not delivery.ok and delivery.refused and delivery.attempts == 1
        assert "loopback" in delivery.error
    assert receiver.drain() == []


def test_json_is_delivered_with_an_explicit_allowance(receiver: Receiver) -> None:
    webhook = hook(receiver.url(), allow_private=True, headers={"X-Token": "s3cret"})
    delivery = deliver(webhook, PAYLOAD)
    assert delivery.ok and delivery.status == 200 and delivery.attempts == 1
    got = receiver.next()
    assert got.method == "POST" and got.path == "/hook"
    assert json.loads(got.body) == PAYLOAD
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-token"] == "s3cret"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert receiver.drain() == []  # exactly one request


def test_a_name_keeps_its_host_header_while_the_ip_is_dialled(receiver: Receiver) -> None:
    # localhost may resolve to ::1 first; nothing listens there, so the next vetted address
    # (127.0.0.1) is tried.
    delivery = deliver(hook(receiver.url(host="localhost"), allow_private=True), PAYLOAD)
    assert delivery.ok, delivery.error
    assert receiver.next().headers["host"] == f"localhost:{receiver.port}"


def test_a_redirect_to_an_address_not_allowed_is_refused(
    receiver: Receiver, second: Receiver
) -> None:
    # Only the first host is allowed; its redirect leads to another loopback address, which is
    # vetted on its own and refused: the second receiver never hears of it.
    receiver.routes["/hook"] = Route(302, second.url("/stolen"))
    delivery = deliver(hook(receiver.url(), allow_private=LOOPBACK_ONLY), PAYLOAD)
    assert not delivery.ok and delivery.refused
    assert "127.0.0.2" in delivery.error and "loopback" in delivery.error
    assert len(receiver.drain()) == 1  # the first hop, not retried after a refusal
    assert second.drain() == []
    # The same with a name: a redirect to localhost is vetted by what localhost resolves to,
    # which an allowance for the first host alone (127.0.0.2 here) does not cover.
    second.routes["/hook"] = Route(307, f"http://localhost:{receiver.port}/stolen")
    delivery = deliver(hook(second.url(), allow_private=(ip_network("127.0.0.2/32"),)), PAYLOAD)
    assert delivery.refused
    assert re.search(r"localhost resolves to (127\.0\.0\.1|::1), which is loopback", delivery.error)
    assert len(second.drain()) == 1 and receiver.drain() == []


def test_an_allowed_redirect_is_followed_without_the_secrets(
    receiver: Receiver, second: Receiver
) -> None:
    receiver.routes["/hook"] = Route(307, "/moved")  # same origin: headers kept
    receiver.routes["/moved"] = Route(308, second.url("/final"))  # another origin: dropped
    webhook = hook(receiver.url(), allow_private=(ip_network("127.0.0.0/8"),),
                   headers={"X-Token": "s3cret"})  # fmt: skip
    delivery = deliver(webhook, PAYLOAD)
    assert delivery.ok and delivery.redirects == 2
    first, moved = receiver.next(), receiver.next()
    assert (first.path, moved.path) == ("/hook", "/moved")
    assert moved.headers["x-token"] == "s3cret" and json.loads(moved.body) == PAYLOAD
    final = second.next()
    assert final.method == "POST" and json.loads(final.body) == PAYLOAD
    assert "x-token" not in final.headers
    assert final.headers["host"] == f"127.0.0.2:{second.port}"


def test_redirects_are_bounded_and_checked(receiver: Receiver) -> None:
    receiver.routes["/hook"] = Route(302, "/hook")  # a loop
    delivery = deliver(hook(receiver.url(), allow_private=True), PAYLOAD)
    assert not delivery.ok and f"more than {MAX_REDIRECTS} redirects" in delivery.error
    assert len(receiver.drain()) == MAX_REDIRECTS + 1
    receiver.routes["/hook"] = Route(302, "file:///etc/passwd")
    delivery = deliver(hook(receiver.url(), allow_private=True), PAYLOAD)
    assert delivery.refused and "file URL" in delivery.error


def test_server_errors_are_retried_once_client_errors_never(receiver: Receiver) -> None:
    receiver.routes["/hook"] = Route(503)
    delivery = deliver(hook(receiver.url(), allow_private=True), PAYLOAD)
    assert not delivery.ok and delivery.status == 503 and delivery.attempts == 2
    assert "HTTP 503" in delivery.error and len(receiver.drain()) == 2
    receiver.routes["/hook"] = Route(404)
    delivery = deliver(hook(receiver.url(), allow_private=True), PAYLOAD)
    assert delivery.status == 404 and delivery.attempts == 1 and len(receiver.drain()) == 1


def test_an_unreachable_or_slow_receiver_fails_in_bounded_time(receiver: Receiver) -> None:
    closed = Receiver()
    url = closed.url()
    closed.close()
    started = time.monotonic()
    delivery = deliver(hook(url, allow_private=True, timeout=1), PAYLOAD)
    assert not delivery.ok and delivery.attempts == 2 and "cannot connect" in delivery.error
    receiver.routes["/hook"] = Route(delay=2.0)
    delivery = deliver(hook(receiver.url(), allow_private=True, timeout=0.3), PAYLOAD)
    assert not delivery.ok and delivery.attempts == 2 and "Timeout" in delivery.error
    assert time.monotonic() - started < 10


def test_a_missing_name_fails_without_raising() -> None:
    delivery = deliver(hook("https://no-such-host.invalid/hook"), PAYLOAD)
    assert not delivery.ok and not delivery.refused and "resolve" in delivery.error


def test_https_verifies_the_name_while_dialling_the_ip(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    ca, cert, key = tls_files(tmp_path, "localhost")
    server = Receiver(tls=server_tls(cert, key))
    try:
        url = server.url(host="localhost")
        delivery = deliver(hook(url, allow_private=True, ca_file=ca), PAYLOAD)
        assert delivery.ok, delivery.error
        got = server.next()
        assert json.loads(got.body) == PAYLOAD and got.headers["host"] == f"localhost:{server.port}"
        # The same server reached by IP presents a certificate for "localhost", not the IP:
        # verification is by name and stays on, so this fails.
        delivery = deliver(hook(server.url(), allow_private=True, ca_file=ca), PAYLOAD)
        assert not delivery.ok and "certificate" in delivery.error.lower()
        # A CA the client does not trust: refused by verification too.
        other_ca, _, _ = tls_files(tmp_path, "other")
        delivery = deliver(hook(url, allow_private=True, ca_file=other_ca), PAYLOAD)
        assert not delivery.ok and "certificate" in delivery.error.lower()
        # https may not redirect down to http.
        server.routes["/hook"] = Route(302, f"http://localhost:{server.port}/plain")
        delivery = deliver(hook(url, allow_private=True, ca_file=ca), PAYLOAD)
        assert delivery.refused and "https down to http" in delivery.error
    finally:
        server.close()
