"""One call to the embedded store as MongoDB reads it: the queries it parses, the indexes it would create,
the documents it would store, and the error the driver raises when the server refuses it.

Only public API: the arguments are named by mongomock's own method signatures, and what a write would store
is computed by running it on copies in a scratch mongomock store.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

import mongomock
from pymongo import IndexModel
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

UPDATES = frozenset({"update_one", "update_many", "find_one_and_update"})
REPLACEMENTS = frozenset({"replace_one", "find_one_and_replace"})
# The server refuses a statement of a write command with a write error (pymongo: WriteError), any other
# command as a whole (OperationFailure); code 11000 is a DuplicateKeyError either way.
_STATEMENTS = frozenset(
    {"insert_one", "update_one", "update_many", "replace_one", "delete_one", "delete_many"}
)
_INDEX_OPTIONS_OF_MONGOMOCK = ("key_or_list", "cache_for", "session")


@dataclass(frozen=True)
class Breach:
    """How a call breaks one of MongoDB's rules: the server's message, and what its error adds to it."""

    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


def overlaps(path: str, other: str) -> bool:
    """Whether one dotted path is the other or a prefix of it ("a" and "a.b", not "a" and "ab")."""
    parts, others = path.split("."), other.split(".")
    shorter = min(len(parts), len(others))
    return parts[:shorter] == others[:shorter]


@cache
def _signature(operation: str) -> inspect.Signature:
    return inspect.signature(getattr(mongomock.Collection, operation))


class Call:
    def __init__(self, store: Any, operation: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """`store` is mongomock's collection (read through its public methods only). An argument that
        mongomock's method does not take leaves the call without arguments: the method itself refuses it."""
        self.store = store
        self.operation = operation
        self.arguments: dict[str, Any] = {}
        signature = _signature(operation)
        try:
            bound = signature.bind(store, *args, **kwargs).arguments
        except TypeError:
            return
        for name, parameter in signature.parameters.items():
            if name in bound and parameter.kind is parameter.VAR_KEYWORD:
                self.arguments.update(bound[name])
            elif name in bound and name != "self":
                self.arguments[name] = bound[name]

    @property
    def queries(self) -> list[Mapping[str, Any]]:
        """Every query the server parses: the filter, the array filters, an aggregation's $match stages."""
        stages = self.arguments.get("pipeline") or []
        found = [self.arguments.get("filter"), *(self.arguments.get("array_filters") or [])]
        found += [stage.get("$match") for stage in stages if isinstance(stage, Mapping)]
        return [query for query in found if isinstance(query, Mapping)]

    @property
    def update(self) -> Mapping[str, Any] | None:
        """An update by operators (an update pipeline, a list, is not one)."""
        update = self.arguments.get("update")
        return update if isinstance(update, Mapping) else None

    @cached_property
    def paths(self) -> list[str]:
        """The paths an update by operators writes, in order (both paths of each $rename)."""
        found: list[str] = []
        for operator, fields in (self.update or {}).items():
            if str(operator).startswith("$") and isinstance(fields, Mapping):
                found += map(str, fields)
                found += [str(v) for v in fields.values() if operator == "$rename" and isinstance(v, str)]
        return found

    @property
    def sent(self) -> Mapping[str, Any] | None:
        """The document the call sends whole: the inserted one, the replacement or the update."""
        for name in ("document", "replacement", "update"):
            if isinstance(self.arguments.get(name), Mapping):
                return self.arguments[name]
        return None

    @property
    def index_specs(self) -> list[Mapping[str, Any]]:
        """The indexes the call creates, as pymongo sends them (key, name, options)."""
        if self.operation == "create_indexes":
            return [model.document for model in self.arguments.get("indexes", [])]
        if self.operation == "create_index" and "key_or_list" in self.arguments:
            options = {k: v for k, v in self.arguments.items() if k not in _INDEX_OPTIONS_OF_MONGOMOCK}
            return [IndexModel(self.arguments["key_or_list"], **options).document]
        return []

    @cached_property
    def targets(self) -> list[dict[str, Any]]:
        """Copies of the stored documents an update or replacement changes."""
        if self.operation not in UPDATES | REPLACEMENTS:
            return []
        query, order = self.arguments.get("filter"), self.arguments.get("sort")
        return list(self.store.find(query, sort=order, limit=0 if self.operation == "update_many" else 1))

    @cached_property
    def written(self) -> list[Mapping[str, Any]]:
        """The documents the call would store: the inserted one, or what the update or replacement leaves of
        each document it changes (or the one it upserts), computed on copies."""
        if self.operation == "insert_one":
            document = self.arguments.get("document")
            return [document] if isinstance(document, Mapping) else []
        if self.operation not in UPDATES | REPLACEMENTS or "filter" not in self.arguments:
            return []
        scratch: Any = mongomock.MongoClient(tz_aware=self.store.codec_options.tz_aware)["scratch"]["writes"]
        query = self.arguments["filter"]
        if self.targets:
            scratch.insert_many(self.targets)
            query = {"_id": {"$in": [target["_id"] for target in self.targets]}}
        upsert = bool(self.arguments.get("upsert"))
        if self.operation in REPLACEMENTS:
            scratch.replace_one(query, copy.deepcopy(self.arguments["replacement"]), upsert=upsert)
        else:
            update = scratch.update_many if self.operation == "update_many" else scratch.update_one
            filters = self.arguments.get("array_filters")
            update(query, copy.deepcopy(self.arguments["update"]), upsert=upsert, array_filters=filters)
        return list(scratch.find())

    def is_stored(self, document: Mapping[str, Any]) -> bool:
        """Whether `document` (one of `written`) changes a stored document rather than adding one."""
        return "_id" in document and any(target["_id"] == document["_id"] for target in self.targets)

    def refused(self, code: int, code_name: str, message: str, **details: Any) -> OperationFailure:
        """The driver's exception for the server refusing this call with MongoDB's `code`."""
        if self.operation in _STATEMENTS:
            error = {"index": 0, "code": code, "errmsg": message, **details}
            return (DuplicateKeyError if code == 11000 else WriteError)(message, code, error)
        reply = {"ok": 0.0, "errmsg": message, "code": code, "codeName": code_name, **details}
        return (DuplicateKeyError if code == 11000 else OperationFailure)(message, code, reply)
