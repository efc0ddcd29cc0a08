"""The middleware that turns a bearer token into the Caller: the user, the organisation the request acts in
and their role there (API.md section 19); or an API key (`orbix_sk_…`, section 20), which acts in its own
organisation as an admin limited by its scopes."""

from __future__ import annotations

from functools import partial
from typing import Any

from bson import ObjectId
from litestar.connection import ASGIConnection, Request
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.types import Receive, Scope, Send

from app.api_keys import service as api_keys
from app.api_keys.usage import Usage
from app.auth import sessions
from app.auth.models import Caller, User
from app.auth.tokens import TokenService
from app.core.clock import as_utc, enter_zone, in_zone, utc_now
from app.core.errors import CsrfFailed, NotFound, Unauthorized
from app.core.roles import Role
from app.db.actors import SYSTEM, act, acting_as
from app.db.repository import parse_object_id
from app.http.after_answer import defer
from app.http.credentials import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE
from app.http.public import EXCLUDE_FROM_AUTH
from app.http.tenancy import ORGANIZATION_HEADER, ORGANIZATION_QUERY, acts_in_organization
from app.organizations import service as organizations
from app.organizations.models import Organization

# The dependency that hands a route the caller's whole user document; `caller` hands one with the profile of
# the organisation the request acts in; routes that name neither get a Caller without either.
PROFILE = "current_user"
WITH_ORGANIZATION = "caller"
_AUTHENTICATING = {
    "token_version": 1,
    "memberships": 1,
    "default_organization_id": 1,
    "email": 1,
    "live_sessions": 1,
}
_MALFORMED: Any = object()  # an Orbix-Organization that is not an id: 404 once the caller is known


class JWTAuthMiddleware(AbstractAuthenticationMiddleware):
    """Bearer token -> the Caller; a token whose `ver` is older than the user's is revoked. The caller is the
    actor of everything the request stores and every event it makes (db/actors.py), for this request only."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Each undoes, when the request ends, what `act` and `enter_zone` below name: the actor, and the
        # time zone of the organisation (for the routes that load it), which the business "today" reads.
        with acting_as(SYSTEM), in_zone(None):
            await super().__call__(scope, receive, send)

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token, by_cookie = _token(connection)
        if any(api_keys.is_api_key(value) for value in connection.query_params.values()):
            # A URL ends up in logs and histories: a key there is refused, even beside a good header.
            raise Unauthorized("An API key goes in the Authorization header, never in the URL")
        handler = connection.scope.get("route_handler")
        in_organization = handler is None or acts_in_organization(handler.opt)
        if api_keys.is_api_key(token):
            if by_cookie:  # a session cookie carries a session's token, never a key
                raise Unauthorized("The token is invalid or expired")
            return await _authenticate_key(connection, token, handler, in_organization)
        tokens: TokenService = connection.app.state.tokens
        claims = tokens.verify(token)
        user_id = parse_object_id(claims["sub"])
        sid = claims.get("sid")
        requested = _requested_organization(connection) if in_organization else None
        # One lookup per request, on the store (no cache: a revoked token, an ended session or a removed
        # member is refused on the next request through any process). The memberships and the live sessions
        # come with the token version; a route that needs the organisation's profile gets it joined in the
        # same round trip.
        lookup_for = None if requested is _MALFORMED else requested
        raw = await _lookup(user_id, lookup_for, _wants(handler)) if user_id else None
        if raw is None or raw.get("token_version", 0) != claims["ver"] or not _live(raw, sid):
            raise Unauthorized("The token is invalid or expired")
        if by_cookie and connection.scope.get("method") not in SAFE_METHODS:
            secret = connection.app.state.settings.jwt_secret
            if not sessions.csrf_matches(secret, sid or "", connection.headers.get(CSRF_HEADER)):
                raise CsrfFailed("This request needs the X-CSRF-Token header of its session")
        if requested is _MALFORMED:
            raise NotFound("No such organization")
        if sid is not None:
            _note_activity(ObjectId(sid))
        acting, role = _acting(raw, requested) if in_organization else _outside(raw)
        whole_user, with_organization = _wants(handler)
        caller = Caller(
            id=acting,
            user_id=raw["_id"],
            role=role,
            email=raw["email"],
            organization=await _organization(raw, acting) if with_organization else None,
            profile=User.model_validate(raw) if whole_user else None,
            sid=sid,
            cookie=by_cookie,
        )
        _enter(caller)
        return AuthenticationResult(user=caller, auth=claims)


def _enter(caller: Caller) -> None:
    """The caller acts for the rest of the request, in its organisation's time zone when it was loaded."""
    act(caller.actor)
    if caller.organization is not None:
        enter_zone(caller.organization.business.time_zone)


def _token(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str, bool]:
    """The token and whether the session cookie carried it: a bearer header wins over the cookie."""
    header = connection.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("A bearer token is required")
        return token.strip(), False
    cookie = connection.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, True
    raise Unauthorized("A bearer token is required")


def _live(raw: dict[str, Any], sid: Any) -> bool:
    """A token names a live session of its user (one issued before sessions names none: its version rules)."""
    if sid is None:
        return True
    oid = parse_object_id(sid)
    return oid is not None and oid in (raw.get("live_sessions") or ())


def _note_activity(sid: ObjectId) -> None:
    """The session's last activity, to the minute: written after the answer, once a minute per process."""
    minute = sessions.activity_to_record(sid, utc_now())
    if minute is not None:
        defer(partial(sessions.record_activity, sid, minute))


async def _authenticate_key(
    connection: ASGIConnection[Any, Any, Any, Any], key: str, handler: Any, in_organization: bool
) -> AuthenticationResult:
    """One lookup by the key's hash (with the organisation's profile joined for routes that need it); the
    key acts in its organisation alone (another one named: 404), as an admin within its scopes. Routes the
    key may not use are refused by the guard (http/tenancy.py), after this."""
    _, with_organization = _wants(handler)
    raw = await api_keys.authenticating(key, with_organization) if api_keys.well_formed(key) else None
    expires_at = raw.get("expires_at") if raw else None
    if raw is None or (expires_at is not None and as_utc(expires_at) <= utc_now()):
        raise Unauthorized("The API key is invalid, expired or revoked")
    acting = raw["owner_id"]
    requested = _requested_organization(connection) if in_organization else None
    if requested is not None and requested != acting:
        raise NotFound("No such organization")
    organization = None
    if with_organization:
        joined = raw.get("_organization") or ()
        if not joined:  # its organisation is gone
            raise Unauthorized("The API key is invalid, expired or revoked")
        organization = Organization.model_validate(joined[0])
    caller = Caller(
        id=acting,
        user_id=None,
        role=Role.ADMIN,
        email=None,
        organization=organization,
        scopes=frozenset(raw.get("scopes") or ()),
        key_id=raw["_id"],
    )
    usage: Usage = connection.app.state.api_key_usage
    usage.note(raw["_id"])
    _enter(caller)
    return AuthenticationResult(user=caller, auth=None)


def _wants(handler: Any) -> tuple[bool, bool]:
    """(the whole user, the organisation's profile) for this handler."""
    if handler is None:
        return True, True
    parameters = handler.parsed_fn_signature.parameters
    whole = PROFILE in parameters
    return whole, whole or WITH_ORGANIZATION in parameters


def _requested_organization(connection: ASGIConnection[Any, Any, Any, Any]) -> ObjectId | None:
    named = connection.headers.get(ORGANIZATION_HEADER) or connection.query_params.get(ORGANIZATION_QUERY)
    if named is None:
        return None
    oid = parse_object_id(named.strip())
    return _MALFORMED if oid is None else oid


async def _lookup(user_id: ObjectId, requested: ObjectId | None, wants: tuple[bool, bool]) -> Any:
    whole_user, with_organization = wants
    if not with_organization:
        return await users().find_one({"_id": user_id}, _AUTHENTICATING)
    # The organisation acted in is the requested one, else the user's default, else the personal one; a
    # default the user has left is corrected in `_organization` (a second read, only then).
    acting: Any = requested or {"$ifNull": ["$default_organization_id", "$_id"]}
    pipeline: list[dict[str, Any]] = [{"$match": {"_id": user_id}}]
    if not whole_user:
        pipeline.append({"$project": {**_AUTHENTICATING, "name": 1, "business": 1}})
    pipeline += [
        {"$addFields": {"_acting": acting}},
        {
            "$lookup": {
                "from": Organization.get_settings().name,
                "localField": "_acting",
                "foreignField": "_id",
                "as": "_organization",
            }
        },
    ]
    found = await users().aggregate(pipeline).to_list(1)
    return found[0] if found else None


def _acting(raw: dict[str, Any], requested: ObjectId | None) -> tuple[ObjectId, Role]:
    roles = {m["organization_id"]: Role(m["role"]) for m in raw.get("memberships") or ()}
    if not roles and "memberships" not in raw:
        # A user stored before organisations, not yet migrated: the owner of the personal organisation that
        # `migrate` will give them (its id is theirs).
        roles = {raw["_id"]: Role.OWNER}
    if requested is not None:
        if requested not in roles:
            raise NotFound("No such organization")
        return requested, roles[requested]
    for candidate in (raw.get("default_organization_id"), raw["_id"]):
        if candidate is not None and candidate in roles:
            return candidate, roles[candidate]
    if roles:
        first = next(iter(roles))
        return first, roles[first]
    raise NotFound("You belong to no organization")


def _outside(raw: dict[str, Any]) -> tuple[ObjectId, Role]:
    """A route of the user alone reads no organisation; the Caller still names one (their default) where the
    user belongs to any. One who belongs to none (they left their personal organisation too) can still sign
    out, list, create or join organisations."""
    try:
        return _acting(raw, None)
    except NotFound:
        return raw["_id"], Role.VIEWER


async def _organization(raw: dict[str, Any], acting: ObjectId) -> Organization:
    joined = [org for org in raw.get("_organization") or () if org["_id"] == acting]
    if not joined:  # the default was left: the lookup joined it, not the one acted in
        found = await Organization.get_motor_collection().find_one({"_id": acting})
        joined = [found] if found else []
    if joined:
        return Organization.model_validate(joined[0])
    if acting == raw["_id"]:
        # The personal organisation of a user not yet migrated: what `migrate` will store for them.
        return organizations.personal_organization(
            acting, raw.get("name", ""), raw["email"], raw.get("business")
        )
    raise NotFound("No such organization")


def users() -> Any:
    return User.get_motor_collection()


def auth_middleware() -> DefineMiddleware:
    return DefineMiddleware(JWTAuthMiddleware, exclude_from_auth_key=EXCLUDE_FROM_AUTH)


def provide_current_user(request: Request[Any, Any, Any]) -> User:
    profile = request.user.profile
    assert isinstance(profile, User)  # the middleware loads the profile for every route that names it
    return profile


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    caller = request.user
    assert caller.organization is not None  # loaded for every route that names `caller`
    return caller


def provide_owner(request: Request[Any, Any, Any]) -> Caller:
    caller: Caller = request.user
    return caller
