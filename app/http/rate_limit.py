"""The rate limit of the routes that check a password (register, login): per client address, with
Retry-After, trusting X-Forwarded-For only from TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from litestar.connection import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.types import Message, Send

from app.config import Settings


class AuthRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's limiter, plus the Retry-After header that a 429 must carry (and only a 429: an answer that
    went through carries the RateLimit-* headers alone)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Most /api routes are not limited: pass them on before Litestar's limiter builds a Request, finds its
        # store and awaits the check below (a tenth of an authenticated request's own CPU).
        if not scope["route_handler"].opt.get(RATE_LIMITED):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def create_response_headers(self, cache_object: Any) -> dict[str, str]:
        """The 429's headers (Litestar builds the refusal with these)."""
        headers = super().create_response_headers(cache_object)
        headers["Retry-After"] = str(max(1, cache_object.reset - int(datetime.now(UTC).timestamp())))
        return headers

    def create_send_wrapper(self, send: Send, cache_object: Any) -> Send:
        """The headers of a request that went through: Litestar's RateLimit-* ones, without Retry-After."""
        rate_limit_headers = super().create_response_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableScopeHeaders(message)
                for name, value in rate_limit_headers(cache_object).items():
                    headers[name] = value
            await send(message)

        return send_with_headers


def client_address(trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> Any:
    """The peer address; the nearest untrusted X-Forwarded-For hop only when the peer is a trusted proxy."""

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted_proxies)

    def identify(request: Request[Any, Any, Any]) -> str:
        peer = request.client.host if request.client else "unknown"
        if not trusted_proxies or not is_trusted(peer):
            return peer
        hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not is_trusted(hop):
                return hop
        return hops[0] if hops else peer

    return identify


def auth_rate_limit(settings: Settings) -> RateLimitConfig:
    return RateLimitConfig(
        rate_limit=("minute", settings.auth_rate_limit_per_minute),
        identifier_for_request=client_address(settings.trusted_proxies),
        middleware_class=AuthRateLimitMiddleware,
        check_throttle_handler=_is_rate_limited_route,
        store="auth_rate_limit",
    )


RATE_LIMITED = "rate_limited"


async def _is_rate_limited_route(request: Request[Any, Any, Any]) -> bool:
    # async: Litestar runs a sync check in a worker thread, a thread hop on every request of the API.
    return bool(request.route_handler.opt.get(RATE_LIMITED))
