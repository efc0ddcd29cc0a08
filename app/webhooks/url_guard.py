"""No server-side request forgery: a webhook URL may only reach public addresses.

Checked when an endpoint is created or changed, and again by every new connection of a delivery (a DNS answer
may change): the deliveries' network backend (transport.py) connects only to the addresses it checked, so a
DNS answer that changes between the check and the connection (DNS rebinding) cannot send it elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

import idna

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named for the error message; anything else that is not globally routable is refused as "reserved".
_NAMED_RANGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cloud metadata", ("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32")),
    ("loopback", ("127.0.0.0/8", "::1/128")),
    ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("link-local", ("169.254.0.0/16", "fe80::/10")),
    ("carrier-grade NAT", ("100.64.0.0/10",)),
)
_NETWORKS = [
    (name, ipaddress.ip_network(network)) for name, networks in _NAMED_RANGES for network in networks
]


class UnsafeUrl(ValueError):
    """The URL is not one a webhook may call; the message says why (it becomes the 400's field message).
    `permanent`: the URL itself is wrong (its shape, a host no encoder can write), so no later attempt can
    succeed; otherwise the answer of the DNS may change (a name that does not resolve, or not publicly)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Target:
    """A checked URL: its host (IDNA form), port and public addresses."""

    url: SplitResult
    host: str
    port: int
    addresses: tuple[str, ...]


# IPv6 forms that carry an IPv4 address in their last 32 bits: IPv4-translated (RFC 2765), NAT64's well-known
# prefix (RFC 6052) and the deprecated IPv4-compatible form (`::a.b.c.d`, but not `::` and `::1`).
_LAST_32_BITS = tuple(map(ipaddress.IPv6Network, ("::ffff:0:0:0/96", "64:ff9b::/96", "::/96")))
# Ranges refused whatever they carry: local-use NAT64 (RFC 8215: where the IPv4 address sits depends on a
# prefix length only its operator knows), documentation (3fff::/20, 2001:db8::/32) and SRv6 SIDs (5f00::/16).
_UNJUDGEABLE = tuple(
    map(ipaddress.IPv6Network, ("64:ff9b:1::/48", "3fff::/20", "2001:db8::/32", "5f00::/16"))
)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches through (mapped, translated, NAT64, IPv4-compatible, 6to4,
    Teredo's server and client), so that each is judged as itself."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if any(address in network for network in _LAST_32_BITS) and int(address) > 1:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a webhook may not call this address, or None when it is a public one. An IPv6 address that carries
    an IPv4 one is judged by what it carries (docs/security.md)."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in _UNJUDGEABLE):
            return "reserved"
        embedded = _embedded_ipv4(address)
        if embedded:
            reasons = [reason for reason in map(forbidden_reason, embedded) if reason is not None]
            return reasons[0] if reasons else None
    for name, network in _NETWORKS:
        if address.version == network.version and address in network:
            return name
    if not address.is_global or address.is_multicast:
        return "reserved"
    return None


def check_shape(url: str, *, https_only: bool) -> SplitResult:
    """An absolute http(s) URL with a host and without credentials (https only in production)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL ({exc})", permanent=True) from None
    allowed = ("https",) if https_only else ("http", "https")
    if parts.scheme not in allowed:
        wanted = "must be an https:// URL" if https_only else "must be an http:// or https:// URL"
        raise UnsafeUrl(wanted, permanent=True)
    if not parts.hostname:
        raise UnsafeUrl("must name a host", permanent=True)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("must not carry credentials", permanent=True)
    if port == 0:
        raise UnsafeUrl("must not use port 0", permanent=True)
    return parts


def ascii_host(host: str) -> str:
    """The host as DNS, HTTP (`Host`) and TLS (SNI) write it: an internationalised name (`bücher.example`,
    `ⓛⓞⓒⓐⓛⓗⓞⓢⓣ`) in its IDNA form (`xn--bcher-kva.example`, `localhost`: UTS #46 mapping, then IDNA 2008,
    as browsers and httpx encode it). An ASCII host is returned as it is."""
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise UnsafeUrl(
            f"the host {host!r} is not a valid internationalised domain name ({exc})", permanent=True
        ) from None


def normalized_url(url: str, *, https_only: bool) -> str:
    """The URL as it is stored and called: its shape checked, its host in IDNA form (a URL whose host is
    ASCII already is returned as it is, character for character)."""
    parts = check_shape(url, https_only=https_only)
    host = parts.hostname or ""
    if host.isascii():
        return url
    netloc = ascii_host(host) + ("" if parts.port is None else f":{parts.port}")
    return urlunsplit(parts._replace(netloc=netloc))


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (off the event loop: getaddrinfo runs in a thread); an address
    literal is its own answer."""
    with contextlib.suppress(ValueError):
        return [str(ipaddress.ip_address(host))]
    try:
        answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"the host {host!r} does not resolve ({exc})") from None
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


async def checked_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses `host` resolves to, every one of them public (unless allow_private). The error never
    names an address: it would tell the caller what an internal name resolves to (a DNS oracle)."""
    addresses = await resolve(host, port)
    if not allow_private:
        for address in addresses:
            reason = forbidden_reason(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason is not None:
                raise UnsafeUrl(f"resolves to a {reason} address, which webhooks may not call")
    return addresses


def host_and_port(parts: SplitResult) -> tuple[str, int]:
    """The host in IDNA form (ascii_host, also for a URL stored before hosts were normalised) and the port."""
    return ascii_host(parts.hostname or ""), parts.port or (443 if parts.scheme == "https" else 80)


async def check_url(url: str, *, https_only: bool, allow_private: bool) -> Target:
    """The URL's shape, then every address its host resolves to: all must be public (unless allow_private)."""
    parts = check_shape(url, https_only=https_only)
    host, port = host_and_port(parts)
    addresses = await checked_addresses(host, port, allow_private=allow_private)
    return Target(url=parts, host=host, port=port, addresses=tuple(addresses))
