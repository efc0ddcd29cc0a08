"""Versions, ETags and preconditions (docs/api-conventions.md). The repository's side (the version bump,
the guarded write) is app/db/versions.py.

Every stored resource carries `version`, which every write the API shows bumps with `$inc` in the same
update (a document stored before versions existed has none: it reads as 0, and `{"version": {"$in":
[0, None]}}` matches it).

- `If-Match` on a write becomes the handler's `expected` dependency (`provide_expected`), which the handler
  passes to its service: the load of the resource answers 412 before any state rule, and its first write
  carries the versions in its filter.
- Single-resource responses (a JSON object with an `id` whose document this request mapped into a response,
  `saw`) get `ETag: "<version>-<hash of is_overdue, tracked_seconds, unbilled_seconds>"`, added by the
  middleware on the `/api` router; a GET whose `If-None-Match` names the current tag (weak comparison; `*`
  matches any) gets 304 without a body.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import msgspec
from bson import ObjectId
from litestar import Request

from app.db.versions import ANY, Expected

DERIVED_FIELDS = ("is_overdue", "tracked_seconds", "unbilled_seconds")
# The dependency a write handler takes to honour If-Match; a GET handler's opt key: it names the caller's
# own user document (its answer is tagged, and If-None-Match applies, though its path holds no id).
EXPECTED = "expected"
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


def provide_expected(request: Request[Any, Any, Any]) -> Expected:
    """The `expected` dependency: the versions If-Match names on a write (`ANY` without one, or for `*`)."""
    header = request.headers.get("if-match")
    if header is None or request.method not in _GUARDED_METHODS:
        return ANY
    return Expected(expected_versions(header))


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


# The versions of the documents this request mapped into its response, by id (set by the middleware).
_seen: ContextVar[dict[Any, int] | None] = ContextVar("response_versions", default=None)


def saw(oid: Any, version: int | None) -> None:
    """A stored document at `version` went into this request's response (app/http/mapping.py calls it)."""
    seen = _seen.get()
    if seen is not None:
        seen[oid] = version or 0  # a document stored before versions existed reads 0


def _tag_for(seen: dict[Any, int], body: bytes) -> str | None:
    try:
        shape = msgspec.json.decode(body, type=_Derived)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if shape.id is None or not ObjectId.is_valid(shape.id):
        return None
    version = seen.get(ObjectId(shape.id))
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
        seen: dict[Any, int] = {}
        if_none_match = _header(scope["headers"], b"if-none-match") if scope["method"] == "GET" else None
        token = _seen.set(seen)
        try:
            await self.app(scope, receive, _tagging(seen, send, if_none_match))
        finally:
            _seen.reset(token)


def _tagging(seen: dict[Any, int], send: Any, if_none_match: str | None) -> Any:
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
            await start(held.pop("start"), _tag_for(seen, body))
            if not not_modified:
                await send({"type": "http.response.body", "body": body})
            return
        if not_modified:
            return  # the body of an answer already sent as 304
        await send(message)

    return tagging
