"""No server-side request forgery: webhook URLs that resolve to internal addresses are refused at creation
and again at each delivery. DNS answers are mocked (a real resolver here cannot be made to answer them)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from app.webhooks.url_guard import forbidden_reason
from app.worker.loop import Worker
from app.worker.metrics import JobMetrics
from tests.conftest import assert_problem, register, serve
from tests.webhooks.helpers import an_event, create_endpoint, deliveries
from tests.webhooks.receiver import Receiver

REFUSED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.1.1": "private",
    "fd12:3456::1": "private",
    "169.254.10.20": "link-local",
    "fe80::1": "link-local",
    "100.64.0.1": "carrier-grade NAT",
    "100.127.255.254": "carrier-grade NAT",
    "169.254.169.254": "cloud metadata",
    "fd00:ec2::254": "cloud metadata",
    "100.100.100.200": "cloud metadata",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    # IPv6 forms that carry an IPv4 address are judged by it (docs/security.md)
    "::127.0.0.1": "loopback",  # IPv4-compatible, written as [::127.0.0.1]
    "::ffff:0:7f00:1": "loopback",  # IPv4-translated
    "64:ff9b::7f00:1": "loopback",  # NAT64, well-known prefix
    "64:ff9b::a9fe:a9fe": "cloud metadata",
    "64:ff9b::a00:1": "private",
    "2002:7f00:1::": "loopback",  # 6to4
    "2002:a9fe:a9fe::1": "cloud metadata",
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "loopback",  # Teredo, client 127.0.0.1 (obfuscated)
    "64:ff9b:1::a00:1": "reserved",  # local-use NAT64: the embedding is the operator's
    "3fff::1": "reserved",  # documentation
    "2001:db8::1": "reserved",
    "5f00::1": "reserved",  # SRv6
    "0.0.0.0": "reserved",  # noqa: S104 - an address under test, not a bind
    "224.0.0.1": "reserved",
    "255.255.255.255": "reserved",
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:2800:220:1:248:1893:25c8:1946"]
PUBLIC += ["64:ff9b::808:808", "2002:808:808::1"]  # NAT64 and 6to4 of a public address


@pytest.mark.parametrize(("address", "reason"), sorted(REFUSED.items()))
def test_internal_addresses_are_refused_with_their_reason(address, reason):
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert forbidden_reason(ipaddress.ip_address(address)) is None


class FakeDns:
    """socket.getaddrinfo with our answers for the names we set (the event loop calls it in a thread).
    `set(name, answer, later_answer, ...)`: each lookup takes the next answer; the last one repeats."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name not in self.answers:
                return real(host, port, *args, **kwargs)
            self.lookups.append(name)
            queue = self.answers[name]
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (address, int(port or 0)),
                )
                for address in addresses
            ]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def set(self, name: str, *answers: list[str]) -> None:
        self.answers[name] = list(answers)


@pytest.fixture
def dns(monkeypatch):
    return FakeDns(monkeypatch)


@pytest.fixture
async def guarded(make_app):
    """The API as in production: private addresses refused (the rest of the tests allow them)."""
    async with serve(make_app(webhook_allow_private_urls=False)) as http:
        yield http, await register(http, "ada@example.com")


@pytest.mark.parametrize(
    "answers",
    [["10.0.0.5"], ["93.184.216.34", "127.0.0.1"], ["169.254.169.254"], ["fd00::1"], ["100.64.3.4"]],
)
async def test_creation_refuses_a_name_that_resolves_to_an_internal_address(guarded, dns, answers):
    http, account = guarded
    dns.set("hooks.example.com", answers)
    response = await http.post(
        "/api/webhook-endpoints",
        json={"url": "https://hooks.example.com/orbix", "events": ["*"]},
        headers=account.headers,
    )
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"][0]["field"] == "url"
    message = problem["errors"][0]["message"]
    assert "webhooks may not call" in message
    assert not any(address in message for address in answers)  # no DNS oracle: the address is not named


async def test_creation_refuses_internal_address_literals(guarded):
    http, account = guarded
    for url in ("http://127.0.0.1:8000/x", "http://[::1]/x", "http://169.254.169.254/latest/meta-data"):
        response = await http.post(
            "/api/webhook-endpoints", json={"url": url, "events": ["*"]}, headers=account.headers
        )
        assert_problem(response, 400, "validation_error")


async def test_creation_accepts_a_public_name_and_patch_checks_again(guarded, dns):
    http, account = guarded
    dns.set("hooks.example.com", ["93.184.216.34"])
    dns.set("internal.example.com", ["192.168.0.10"])
    created = await create_endpoint(http, account.headers, "https://hooks.example.com/orbix")
    moved = await http.patch(
        f"/api/webhook-endpoints/{created['id']}",
        json={"url": "https://internal.example.com/orbix"},
        headers=account.headers,
    )
    assert_problem(moved, 400, "validation_error")


async def test_an_unresolvable_name_is_refused(guarded, dns):
    http, account = guarded
    response = await http.post(
        "/api/webhook-endpoints",
        json={"url": "https://no-such-host.invalid/x", "events": ["*"]},
        headers=account.headers,
    )
    assert "does not resolve" in assert_problem(response, 400, "validation_error")["errors"][0]["message"]


async def test_delivery_checks_the_address_again_and_refuses_a_name_now_internal(guarded, dns):
    """Public at creation, loopback at delivery (a DNS answer changed): nothing is sent."""
    http, account = guarded
    receiver = await Receiver().start()
    dns.set("hooks.example.com", ["93.184.216.34"], ["127.0.0.1"])
    endpoint = await create_endpoint(http, account.headers, f"http://hooks.example.com:{receiver.port}/hooks")
    await an_event(account.id)
    # A worker of its own: the `make_worker` fixture would start another app (another database).
    await Worker(JobMetrics(CollectorRegistry())).run_until_idle()

    assert receiver.requests == []
    [delivery] = await deliveries(http, account.headers, endpoint["id"])
    [attempt] = delivery["attempts"]
    assert attempt["error"].startswith("refused:") and "loopback" in attempt["error"]
    await receiver.stop()


async def test_delivery_connects_to_the_address_it_checked(client, user, worker, dns):
    """The name is resolved once per attempt and the connection goes to that address, with the name in Host:
    a second answer (DNS rebinding) is never used. Here the second answer is an unroutable address."""
    receiver = await Receiver().start()
    dns.set("hooks.example.com", ["127.0.0.1"])
    endpoint = await create_endpoint(client, user.headers, f"http://hooks.example.com:{receiver.port}/hooks")
    dns.lookups.clear()
    # The attempt's lookup answers loopback (where the receiver is); any later lookup would get an
    # unroutable address, and the attempt would fail.
    dns.set("hooks.example.com", ["127.0.0.1"], ["10.255.255.1"])
    await an_event(user.id)
    await worker.run_until_idle()

    assert len(receiver.requests) == 1, await deliveries(client, user.headers, endpoint["id"])
    assert receiver.requests[0].headers["host"] == f"hooks.example.com:{receiver.port}"
    assert dns.lookups == ["hooks.example.com"]
    await receiver.stop()
