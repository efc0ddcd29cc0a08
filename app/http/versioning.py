"""Versions, ETags and preconditions (docs/api-conventions.md): one middleware on the `/api` router. The
repository's side (the version bump, the guarded first write) is app/db/versions.py.

Every stored resource carries `version`, which every write the API shows bumps with `$inc` in the same
update (a document stored before versions existed has none: it reads as 0, and `{"version": {"$in":
[0, None]}}` matches it). The middleware reads `If-Match` and names the request's *target*: the document
whose id is in the path (or, for `/api/auth/me`, the caller). While the request runs:

- loading the target (core `get_owned`) at another version than If-Match names: 412, before any state rule;
- the first write of the target carries `version` in its filter, so the check and the write are one atomic
  operation; a miss because the version moved is 412 and nothing is written. Later writes of the same request
  (an invoice's number after its send) are free: the precondition has been met.

Single-resource responses (a JSON object with an `id` this request loaded or wrote) get
`ETag: "<version>-<hash of is_overdue, tracked_seconds, unbilled_seconds>"`; a GET whose `If-None-Match`
names the current tag (weak comparison; `*` matches any) gets 304 without a body.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from bson import ObjectId

from app.db import versions
from app.db.versions import RequestVersions

DERIVED_FIELDS = ("is_overdue", "tracked_seconds", "unbilled_seconds")
# A route handler's opt key: the resource this route names is the caller's own user document.
NAMES_THE_CALLER = "names_the_caller"
_GUARDED_METHODS = frozenset({"PATCH", "DELETE", "POST"})
_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*|\s*(\*)\s*')
_VERSION_PART = re.compile(r"^(\d{1,18})(?:-|$)")

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


# ---------------------------------------------------------------- tags


def etag(version: int, derived: dict[str, Any]) -> str:
    digest = hashlib.sha256(msgspec.json.encode(dict(sorted(derived.items())))).hexdigest()[:16]
    return f'"{version}-{digest}"'


def _tags(header: str) -> list[tuple[bool, str]]:
    """(weak, opaque tag) of each entity tag in an If-Match / If-None-Match list; ("*") as (False, "*")."""
    found = []
    for match in _TAG.finditer(header):
        if match.group(3):
            found.append((False, "*"))
        else:
            found.append((bool(match.group(1)), match.group(2)))
    return found


def expected_versions(header: str) -> frozenset[int] | None:
    """The versions an If-Match names (strong tags only); None for `*` (any current version)."""
    versions = set()
    for weak, tag in _tags(header):
        if tag == "*" and not weak:
            return None
        number = _VERSION_PART.match(tag)
        if number and not weak:
            versions.add(int(number.group(1)))
    return frozenset(versions)


def none_match(header: str, current: str) -> bool:
    """If-None-Match against the current tag, by weak comparison."""
    bare = current.removeprefix("W/")
    return any(tag == "*" or f'"{tag}"' == bare for _, tag in _tags(header))


# ---------------------------------------------------------------- the middleware


class _Derived(msgspec.Struct):
    id: str | None = None
    is_overdue: bool | None = None
    tracked_seconds: int | None = None
    unbilled_seconds: int | None = None


def _header(headers: Any, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _target(scope: dict[str, Any]) -> ObjectId | None:
    params = list((scope.get("path_params") or {}).values())
    if len(params) == 1 and isinstance(params[0], str) and ObjectId.is_valid(params[0]):
        return ObjectId(params[0])
    handler = scope.get("route_handler")
    user = scope.get("user")
    if handler is not None and handler.opt.get(NAMES_THE_CALLER) and user is not None:
        return user.id
    return None


def _tag_for(state: RequestVersions, body: bytes) -> str | None:
    try:
        shape = msgspec.json.decode(body, type=_Derived)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if shape.id is None or not ObjectId.is_valid(shape.id):
        return None
    version = state.seen.get(ObjectId(shape.id))
    if version is None:
        return None
    derived = {name: getattr(shape, name) for name in DERIVED_FIELDS if getattr(shape, name) is not None}
    return etag(version, derived)


class VersioningMiddleware:
    """For the `/api` router, inside authentication: If-Match for writes, ETag and If-None-Match for reads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = RequestVersions(target=_target(scope))
        if_match = _header(scope["headers"], b"if-match")
        if if_match is not None and scope["method"] in _GUARDED_METHODS:
            state.expected = expected_versions(if_match)
        # The caller's profile, when authentication loaded it (before this request's record began); a route
        # that asked only for the caller's id gets no version, and answers with no profile to tag.
        version = getattr(scope.get("user"), "version", None)
        if version is not None:
            state.seen[scope["user"].id] = version
        if_none_match = _header(scope["headers"], b"if-none-match") if scope["method"] == "GET" else None
        token = versions.begin(state)
        try:
            await self.app(scope, receive, _tagging(state, send, if_none_match))
        finally:
            versions.end(token)


def _tagging(state: RequestVersions, send: Any, if_none_match: str | None) -> Any:
    """A send that adds the ETag to a single-resource JSON answer, and turns a fresh GET into a 304."""
    held: dict[str, Any] = {}
    chunks: list[bytes] = []
    not_modified = False

    async def start(message: dict[str, Any], tag: str | None) -> None:
        nonlocal not_modified
        headers = list(message.get("headers", ()))
        if tag is not None:
            headers.append((b"etag", tag.encode("ascii")))
        current = tag or _header(headers, b"etag")
        if current is not None and if_none_match is not None and none_match(if_none_match, current):
            not_modified = True
            kept = [(k, v) for k, v in headers if k.lower() not in (b"content-type", b"content-length")]
            await send({**message, "status": 304, "headers": kept})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({**message, "headers": headers})

    async def tagging(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = message.get("headers", ())
            content_type = _header(headers, b"content-type") or ""
            wants_tag = (
                message["status"] in (200, 201)
                and content_type.startswith("application/json")
                and _header(headers, b"etag") is None
            )
            if wants_tag:
                held["start"] = message  # sent once the body (and so its tag) is known
            else:
                await start(message, None)
            return
        if message["type"] == "http.response.body" and "start" in held:
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            await start(held.pop("start"), _tag_for(state, body))
            if not not_modified:
                await send({"type": "http.response.body", "body": body})
            return
        if not_modified:
            return  # the body of an answer already sent as 304
        await send(message)

    return tagging
