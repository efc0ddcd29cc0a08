"""Document versions as the repository writes them (docs/api-conventions.md, ETag and If-Match): every
write the API shows bumps `version` with `$inc` in the same update (`bump`), and a write the caller made
conditional names the versions it may find (`Expected`, from If-Match at the HTTP edge). The service passes
it explicitly to the load and the first write of the resource the request names: the load answers 412
before any state rule, and the write carries the versions in its filter, so the check and the write are
one atomic operation. Later writes of the same request (an invoice's number after its send) are not
conditional: the service passes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.errors import PreconditionFailed

VERSION = "version"


@dataclass(frozen=True)
class Expected:
    """The versions a conditional write may find; `versions=None` (`ANY`) makes no condition."""

    versions: frozenset[int] | None = None

    def filter(self) -> dict[str, Any]:
        """What a guarded write adds to its filter."""
        if self.versions is None:
            return {}
        allowed: list[int | None] = [*sorted(self.versions)]
        if 0 in self.versions:
            allowed.append(None)  # a document stored before versions existed
        return {VERSION: {"$in": allowed}}

    def guard(self, query: dict[str, Any]) -> dict[str, Any]:
        """`query`, plus the expected versions."""
        condition = self.filter()
        return {"$and": [query, condition]} if condition else query

    def check(self, version: int) -> None:
        """412 when `version` is not one the caller expects."""
        if self.versions is not None and version not in self.versions:
            raise PreconditionFailed(
                f"The resource is at version {version}; If-Match names another: fetch it again and retry"
            )

    async def explain_miss(self, collection: Any, query: dict[str, Any]) -> None:
        """After a guarded write matched nothing: 412 if the document (`query`, unguarded) is there at
        another version; otherwise the caller tells why (gone: 404, a state rule: 409)."""
        if self.versions is not None:
            raw = await collection.find_one(query, {VERSION: 1})
            if raw is not None:
                self.check(raw.get(VERSION, 0))


ANY = Expected()


def bump(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Update operators plus `$inc: {version: 1}` (merged with any other `$inc`)."""
    operators = dict(extra or {})
    operators["$inc"] = {**operators.get("$inc", {}), VERSION: 1}
    return operators
