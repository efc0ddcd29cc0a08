"""Which organisation a request acts in, and the least role its route needs: declared beside the route.

Every handler under /api that acts in an organisation names its least role and the API-key scope it needs
in `opt` (`requires(Role.BILLING, scope="invoices")`, core/scopes.py: read or write from the method unless
named); one guard on the /api router refuses an API key outside its scopes (403 `insufficient_scope`) and a
caller below the role (403 `forbidden`) before the body or any resource is read. Routes of the user alone
(their organisations, accepting an invitation, their session) say `outside_organization()` instead: the
header is not read for them, and no API key reaches them. The app refuses to start when a route says
neither, or names no scope (`check_declared`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.core import scopes
from app.core.errors import Forbidden, InsufficientScope
from app.core.roles import Role
from app.http.public import EXCLUDE_FROM_AUTH

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
ROLE = "role"
SCOPE = "scope"
ACCESS = "access"
OUTSIDE_ORGANIZATION = "outside_organization"
ORGANIZATION_HEADER = "Orbix-Organization"
# For EventSource and download links, which cannot set a header; the header wins.
ORGANIZATION_QUERY = "organization"


def requires(role: Role, *, scope: str, access: scopes.Access | None = None) -> dict[str, Any]:
    """A route handler's `opt` entry: the least role of the caller in the organisation the request acts in,
    and the scope an API key needs: a resource of core/scopes.py (`access` read or write, else from the
    method: GET reads), or `scopes.EVERYTHING`, `scopes.ANY_KEY`, `scopes.NO_KEY`."""
    if scope not in scopes.RESOURCES and scope not in scopes.SPECIAL:
        raise ValueError(f"unknown scope {scope!r}")
    return {ROLE: role, SCOPE: scope, **({ACCESS: access} if access else {})}


def outside_organization() -> dict[str, Any]:
    """A route handler's `opt` entry: it acts for the user alone, in no organisation."""
    return {OUTSIDE_ORGANIZATION: True}


def declared_role(opt: dict[str, Any]) -> Role | None:
    return opt.get(ROLE)


def acts_in_organization(opt: dict[str, Any]) -> bool:
    return not opt.get(OUTSIDE_ORGANIZATION) and not opt.get(EXCLUDE_FROM_AUTH)


def needed_scope(opt: dict[str, Any], methods: Iterable[str]) -> str | None:
    """The scope an API key needs for a route (None: a public route); never one for the user's own."""
    if opt.get(EXCLUDE_FROM_AUTH):
        return None
    declared = opt.get(SCOPE)
    if not acts_in_organization(opt) or declared is None:
        return scopes.NO_KEY
    reads = set(methods) <= {"GET", "HEAD", "OPTIONS"}
    return scopes.needed(declared, opt.get(ACCESS) or ("read" if reads else "write"))


class Member(Protocol):
    @property
    def role(self) -> Role: ...


def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """An API key's scope first (its role is always admin), then the role."""
    granted: frozenset[str] | None = getattr(connection.scope.get("user"), "scopes", None)
    if granted is not None:
        need = needed_scope(handler.opt, getattr(handler, "http_methods", ()))
        if need is not None and not scopes.covers(granted, need):
            raise InsufficientScope(_refusal(need))
    minimum = declared_role(handler.opt)
    if minimum is None:
        return
    caller: Member = connection.user
    if not caller.role.allows(minimum):
        raise Forbidden(f"This needs the {minimum.value} role or above; yours is {caller.role.value}")


def _refusal(need: str) -> str:
    if need == scopes.NO_KEY:
        return "API keys cannot use this route"
    if need == scopes.EVERYTHING:
        return "This needs an API key with the scope *"
    return f"This needs an API key with the scope {need}"


def check_declared(handlers: Iterable[BaseRouteHandler]) -> None:
    """Every authenticated route states where it acts: a forgotten declaration must not mean 'anyone'."""
    missing = [
        str(handler)
        for handler in handlers
        if "OPTIONS" not in getattr(handler, "http_methods", ())
        and any(path.startswith("/api") for path in handler.paths)
        and acts_in_organization(handler.opt)
        and (declared_role(handler.opt) is None or handler.opt.get(SCOPE) is None)
    ]
    if missing:
        raise RuntimeError(f"routes without a declared role and scope, or outside_organization(): {missing}")


class NameTheOrganization:
    """Adds `Orbix-Organization: <id>` to every answer of a request that acted in one (API.md section 19)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                caller = scope.get("user")
                acting = getattr(caller, "id", None)
                handler = scope.get("route_handler")
                if acting is not None and handler is not None and acts_in_organization(handler.opt):
                    headers = [*message.get("headers", []), (b"orbix-organization", str(acting).encode())]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, named)
