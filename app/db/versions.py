"""Document versions as the repository writes them (docs/api-conventions.md, ETag and If-Match): every
write the API shows bumps `version` with `$inc` in the same update, and the request's If-Match
precondition, set by the HTTP edge (app/http/versioning.py) for the request's target document, guards the
first write of that target.

The edge installs a `RequestVersions` for each request (`begin`/`end`); the repository helpers call the hooks
below, which do nothing outside a request (the worker, recovery, scripts).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from app.core.errors import PreconditionFailed

VERSION = "version"


@dataclass
class RequestVersions:
    """What one request knows about versions: its target, the If-Match versions, and every document seen."""

    target: ObjectId | None = None
    expected: frozenset[int] | None = None  # None: no precondition
    met: bool = False  # a write of the target passed the precondition; later writes are free
    seen: dict[ObjectId, int] = field(default_factory=dict)

    def applies_to(self, oid: Any) -> bool:
        return self.expected is not None and not self.met and oid is not None and oid == self.target


_current: ContextVar[RequestVersions | None] = ContextVar("request_versions", default=None)


def begin(state: RequestVersions) -> Token[RequestVersions | None]:
    """The request's versions, until `end`."""
    return _current.set(state)


def end(token: Token[RequestVersions | None]) -> None:
    _current.reset(token)


# ---------------------------------------------------------------- hooks for the repository helpers


def saw(oid: Any, version: int) -> None:
    """A document passed through this request (loaded or written) with this version."""
    state = _current.get()
    if state is not None and oid is not None:
        state.seen[oid] = version


def version_filter(oid: Any) -> dict[str, Any]:
    """The filter a write of `oid` adds: the If-Match versions, when this is the guarded target."""
    state = _current.get()
    if state is None or not state.applies_to(oid):
        return {}
    assert state.expected is not None
    versions: list[int | None] = [*sorted(state.expected)]
    if 0 in state.expected:
        versions.append(None)  # a document stored before versions existed
    return {VERSION: {"$in": versions}}


def guarded(query: dict[str, Any], oid: Any) -> dict[str, Any]:
    """`query`, plus the If-Match versions when `oid` is the request's guarded target."""
    guard = version_filter(oid)
    return {"$and": [query, guard]} if guard else query


async def explain_miss(collection: Any, query: dict[str, Any], oid: Any) -> None:
    """After a guarded write matched nothing: 412 if the document (`query`, unguarded) is there at another
    version; otherwise the caller tells why (gone: 404, a state rule: 409)."""
    if version_filter(oid):
        raw = await collection.find_one(query)
        if raw is not None:
            check(oid, raw.get(VERSION, 0))


def check(oid: Any, version: int) -> None:
    """412 when `oid` is the guarded target and `version` is not one If-Match names."""
    state = _current.get()
    if state is not None and state.applies_to(oid) and version not in (state.expected or ()):
        raise PreconditionFailed(
            f"The resource is at version {version}; If-Match names another: fetch it again and retry"
        )


def met(oid: Any) -> None:
    """A write of `oid` under the precondition succeeded: later writes of this request are not guarded."""
    state = _current.get()
    if state is not None and state.applies_to(oid):
        state.met = True


def bump(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Update operators plus `$inc: {version: 1}` (merged with any other `$inc`)."""
    operators = dict(extra or {})
    operators["$inc"] = {**operators.get("$inc", {}), VERSION: 1}
    return operators
