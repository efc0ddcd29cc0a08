"""The middleware that turns a bearer token into the current user."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection, Request
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware

from app.auth.models import Caller, Owner, User
from app.auth.tokens import TokenService
from app.core.errors import Unauthorized
from app.db.repository import parse_object_id
from app.http.public import EXCLUDE_FROM_AUTH

# The dependency that hands a route the caller's whole profile; routes that do not name it get a Caller.
PROFILE = "current_user"
_VERSION_ONLY = {"token_version": 1}


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
        # One lookup per request, on the store (no cache: a token revoked through any process is refused on
        # its next request). A route that asks for the profile gets the user validated straight into the
        # model (Beanie's User.get() builds a pydantic TypeAdapter on every call); any other route gets a
        # Caller from the version alone, read by projection. The version is checked on the raw document, so
        # a revoked token costs no validation (a user stored before `token_version` has 0).
        whole = _wants_profile(connection.scope.get("route_handler"))
        raw = await users().find_one({"_id": user_id}, None if whole else _VERSION_ONLY) if user_id else None
        if raw is None or raw.get("token_version", 0) != claims["ver"]:
            raise Unauthorized("The token is invalid or expired")
        user: Owner = User.model_validate(raw) if whole else Caller(raw["_id"])
        return AuthenticationResult(user=user, auth=claims)


def _wants_profile(handler: Any) -> bool:
    return handler is None or PROFILE in handler.parsed_fn_signature.parameters


def users() -> Any:
    return User.get_motor_collection()


def auth_middleware() -> DefineMiddleware:
    return DefineMiddleware(JWTAuthMiddleware, exclude_from_auth_key=EXCLUDE_FROM_AUTH)


def provide_current_user(request: Request[Any, Any, Any]) -> User:
    user = request.user
    assert isinstance(user, User)  # the middleware loads the profile for every route that names it
    return user


def provide_owner(request: Request[Any, Any, Any]) -> Caller:
    user = request.user
    return user if isinstance(user, Caller) else Caller(user.id)
