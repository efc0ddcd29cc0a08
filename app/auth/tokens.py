"""JWT access tokens: issue and verify (HS256, with the user's token version as `ver`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from app.config import Settings
from app.core.errors import Unauthorized

JWT_ALGORITHM = "HS256"


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_at: datetime


# How many verified tokens a process remembers (a few hundred bytes each; the oldest is forgotten first).
VERIFIED_TOKENS_KEPT = 4096


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self._secret = settings.jwt_secret
        self._lifetime = timedelta(minutes=settings.jwt_expires_minutes)
        # token -> its claims, once its signature and claims were checked: the same bytes signed by the same
        # secret verify the same way every time, so only the expiry is checked again (the signature check, the
        # base64 and JSON decoding were a fifth of an authenticated request's CPU). Revocation is untouched:
        # the user's token version is read from the store on every request (auth/middleware.py).
        self._verified: dict[str, dict[str, Any]] = {}

    @property
    def lifetime(self) -> timedelta:
        return self._lifetime

    def issue(self, user_id: str, version: int, sid: str) -> IssuedToken:
        now = datetime.now(UTC).replace(microsecond=0)
        expires_at = now + self._lifetime
        claims = {"sub": user_id, "iat": now, "exp": expires_at, "ver": version, "sid": sid}
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM), expires_at)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; none-alg, other algs, forged, expired or future-iat tokens are 401."""
        claims = self._verified.get(token)
        if claims is not None and claims["exp"] > time.time():  # PyJWT's rule: expired once exp <= now
            return dict(claims)
        self._verified.pop(token, None)
        claims = self._verify_signed(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = claims
        return dict(claims)

    def _verify_signed(self, token: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                options={"require": ["sub", "iat", "exp", "ver"]},
            )
        except jwt.PyJWTError:
            raise Unauthorized("The token is invalid or expired") from None
        if not (
            all(_is_integer(claims.get(name)) for name in ("ver", "iat", "exp"))
            and isinstance(claims.get("sub"), str)
            # the session (API.md section 20); a token issued before sessions existed has none
            and isinstance(claims.get("sid", ""), str)
            # A correctly signed token may still claim to live longer than this server ever issues.
            and 0 < claims["exp"] - claims["iat"] <= self._lifetime.total_seconds()
        ):
            raise Unauthorized("The token is invalid or expired")
        return claims


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
