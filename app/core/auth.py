"""Password hashing off the event loop, JWT issue/verify, and the middleware turning a token into a user."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import bcrypt
import jwt
from litestar.connection import ASGIConnection, Request
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware

from app.auth.documents import User
from app.core.config import Settings
from app.core.documents import parse_object_id
from app.core.errors import Unauthorized

JWT_ALGORITHM = "HS256"
MAX_BCRYPT_BYTES = 72  # bcrypt reads no further (and bcrypt>=5 raises on longer input)
EXCLUDE_FROM_AUTH = "exclude_from_auth"


# ---------------------------------------------------------------- passwords


def _hashing_threads() -> int:
    """Every core but one: however many logins arrive at once, the event loop keeps a core to answer on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


_hashing_pool: ThreadPoolExecutor | None = None


async def _off_the_loop(function: Callable[..., Any], *args: Any) -> Any:
    """Run bcrypt in the process-wide hashing pool (bcrypt releases the GIL while it works)."""
    global _hashing_pool
    if _hashing_pool is None:
        _hashing_pool = ThreadPoolExecutor(max_workers=_hashing_threads(), thread_name_prefix="bcrypt")
    return await asyncio.get_running_loop().run_in_executor(_hashing_pool, function, *args)


class PasswordHasher:
    """bcrypt off the event loop; a dummy hash makes an unknown email cost the same as a wrong password."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._dummy_hash: bytes | None = None

    async def hash(self, password: str) -> str:
        hashed: bytes = await _off_the_loop(bcrypt.hashpw, password.encode(), bcrypt.gensalt(self.rounds))
        return hashed.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        candidate = password.encode()
        if hashed is None or len(candidate) > MAX_BCRYPT_BYTES:
            # No stored password is longer than bcrypt's 72 bytes (registration refuses it), so a longer one
            # never matches; it still costs one hash, so neither case answers faster than a wrong password.
            await _off_the_loop(bcrypt.checkpw, candidate[:MAX_BCRYPT_BYTES], await self._dummy())
            return False
        return bool(await _off_the_loop(bcrypt.checkpw, candidate, hashed.encode()))

    async def _dummy(self) -> bytes:
        if self._dummy_hash is None:
            self._dummy_hash = (await self.hash("orbix-timing-equaliser")).encode()
        return self._dummy_hash


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_at: datetime


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self._secret = settings.jwt_secret
        self._lifetime = timedelta(minutes=settings.jwt_expires_minutes)

    def issue(self, user_id: str, version: int) -> IssuedToken:
        now = datetime.now(UTC).replace(microsecond=0)
        expires_at = now + self._lifetime
        claims = {"sub": user_id, "iat": now, "exp": expires_at, "ver": version}
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM), expires_at)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; none-alg, other algs, forged, expired or future-iat tokens are 401."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                options={"require": ["sub", "iat", "exp", "ver"]},
            )
        except jwt.PyJWTError:
            raise Unauthorized("The token is invalid or expired") from None
        if not isinstance(claims.get("ver"), int) or not isinstance(claims.get("sub"), str):
            raise Unauthorized("The token is invalid or expired")
        return claims


class JWTAuthMiddleware(AbstractAuthenticationMiddleware):
    """Bearer token -> the current user; a token whose `ver` is older than the user's is revoked."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("A bearer token is required")
        tokens: TokenService = connection.app.state.tokens
        claims = tokens.verify(token.strip())
        user_id = parse_object_id(claims["sub"])
        user = await User.get(user_id) if user_id else None
        if user is None or user.token_version != claims["ver"]:
            raise Unauthorized("The token is invalid or expired")
        return AuthenticationResult(user=user, auth=claims)


def auth_middleware() -> DefineMiddleware:
    return DefineMiddleware(JWTAuthMiddleware, exclude_from_auth_key=EXCLUDE_FROM_AUTH)


def provide_current_user(request: Request[Any, Any, Any]) -> User:
    return request.user


# ---------------------------------------------------------------- rate limit


class AuthRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's limiter, plus the Retry-After header that a 429 must carry."""

    def create_response_headers(self, cache_object: Any) -> dict[str, str]:
        headers = super().create_response_headers(cache_object)
        headers["Retry-After"] = str(max(1, cache_object.reset - int(datetime.now(UTC).timestamp())))
        return headers


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


def _is_rate_limited_route(request: Request[Any, Any, Any]) -> bool:
    return bool(request.route_handler.opt.get(RATE_LIMITED))
