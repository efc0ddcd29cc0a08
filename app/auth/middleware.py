"""The middleware that turns a bearer token into the current user."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection, Request
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware

from app.auth.documents import User
from app.core.documents import parse_object_id
from app.core.errors import Unauthorized
from app.core.tokens import EXCLUDE_FROM_AUTH, TokenService


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
