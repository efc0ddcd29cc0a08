"""No server-side request forgery: a webhook URL may only reach public addresses.

Checked when an endpoint is created or changed, and again at every delivery (a DNS answer may change). The
delivery then connects to the very address it checked (see delivery.py), so a DNS answer that changes between
the check and the connection (DNS rebinding) cannot send it elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

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
    """The URL is not one a webhook may call; the message says why (it becomes the 400's field message)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (a public address) and what to say in Host and TLS SNI."""

    url: SplitResult
    host: str
    port: int
    addresses: tuple[str, ...]


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a webhook may not call this address, or None when it is a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
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
        raise UnsafeUrl(f"not a valid URL ({exc})") from None
    allowed = ("https",) if https_only else ("http", "https")
    if parts.scheme not in allowed:
        raise UnsafeUrl("must be an https:// URL" if https_only else "must be an http:// or https:// URL")
    if not parts.hostname:
        raise UnsafeUrl("must name a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("must not carry credentials")
    if port == 0:
        raise UnsafeUrl("must not use port 0")
    return parts


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


async def check_url(url: str, *, https_only: bool, allow_private: bool) -> Target:
    """The URL's shape, then every address its host resolves to: all must be public (unless allow_private)."""
    parts = check_shape(url, https_only=https_only)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    if not allow_private:
        for address in addresses:
            reason = forbidden_reason(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason is not None:
                raise UnsafeUrl(f"resolves to a {reason} address ({address}), which webhooks may not call")
    return Target(url=parts, host=host, port=port, addresses=tuple(addresses))
