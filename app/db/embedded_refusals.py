"""What MongoDB 7 (or its driver) refuses and mongomock accepts, refused by the embedded store too, so that
tests meet production's errors.

`RULES` is the table: each rule says what it refuses, on which operations, the error (MongoDB's code and
code name, raised as the driver raises the server's refusal of that operation, see `Call.refused`; or the
driver's own exception when the driver refuses before sending) and the page that documents the refusal.
`guarded` runs an operation's rules just before mongomock runs the operation, within one step of the event
loop (nothing runs between the check and the write), and gives mongomock's duplicate key errors MongoDB's
shape (embedded_duplicates.py). A cursor's refusal is raised when the cursor is opened, where Motor raises
it at the first fetch.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import bson
from bson import ObjectId
from bson.errors import InvalidDocument
from bson.regex import Regex
from pymongo.errors import DocumentTooLarge, DuplicateKeyError

from app.db import embedded_duplicates
from app.db.embedded_call import REPLACEMENTS, UPDATES, Breach, Call, overlaps

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
# pymongo sends a command this much bigger than the server's document limit at most (its
# _COMMAND_OVERHEAD); it refuses a bigger one itself, before sending it.
COMMAND_OVERHEAD_BYTES = 16382
_GROWTH_PER_LEVEL = 16  # bytes an update may add beyond what it sends, per level of a path it writes

QUERYING = frozenset(
    {"find", "find_one", "count_documents", "distinct", "aggregate", "delete_one", "delete_many"}
    | {"find_one_and_delete"}
    | UPDATES
    | REPLACEMENTS
)
INDEXING = frozenset({"create_index", "create_indexes"})
WRITING = frozenset({"insert_one"}) | UPDATES | REPLACEMENTS


@dataclass(frozen=True)
class Rule:
    refuses: str
    operations: frozenset[str]
    check: Callable[[Call], Breach | None]
    cites: str
    code: int = 0  # MongoDB's error code, when the server refuses
    code_name: str = ""
    driver_error: type[Exception] | None = None  # when the driver refuses, before sending


def _pairs(value: Any) -> Iterator[tuple[str | None, Any]]:
    """Every (key, value) inside a query, nested ones included (a list's items have no key)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield key, item
            yield from _pairs(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield None, item
            yield from _pairs(item)


def _nul_in_regex_string(call: Call) -> Breach | None:
    for key, value in _pairs(call.queries):
        if key == "$regex" and isinstance(value, str) and "\x00" in value:
            return Breach("Regular expression cannot contain an embedded null byte")
        if key == "$options" and isinstance(value, str) and "\x00" in value:
            return Breach("Regular expression options string cannot contain an embedded null byte")
    return None


def _nul_in_compiled_pattern(call: Call) -> Breach | None:
    for _, value in _pairs(call.queries):
        if isinstance(value, re.Pattern | Regex):
            try:
                bson.encode({"pattern": value})
            except InvalidDocument as refused:  # the driver's own words
                return Breach(str(refused))
    return None


_PARTIAL_OPERATORS = frozenset({"$eq", "$gt", "$gte", "$lt", "$lte", "$type", "$in", "$exists"})
_NEGATIONS = frozenset({"$ne", "$nin", "$not"})


def _unsupported(query: Mapping[str, Any]) -> str | None:
    """The first expression of a partial filter MongoDB 7 does not take (as its message begins)."""
    for path, condition in query.items():
        if path in ("$and", "$or"):
            found = (_unsupported(clause) for clause in condition if isinstance(clause, Mapping))
            if (first := next((what for what in found if what), None)) is not None:
                return first
        elif path.startswith("$"):
            return path
        elif isinstance(condition, re.Pattern | Regex):
            return f"{path} regex"
        elif isinstance(condition, Mapping) and any(str(op).startswith("$") for op in condition):
            for operator, operand in condition.items():
                if operator in _NEGATIONS or (operator == "$exists" and not operand):
                    return "$not"  # $ne, $nin and $exists: false are negations to MongoDB
                if operator not in _PARTIAL_OPERATORS:
                    return f"{path} {operator}"
    return None


def _unsupported_in_partial_filter(call: Call) -> Breach | None:
    for spec in call.index_specs:
        what = _unsupported(spec.get("partialFilterExpression") or {})
        if what:
            return Breach(f"Expression not supported in partial index: {what}")
    return None


def _sparse_and_partial(call: Call) -> Breach | None:
    if any(spec.get("sparse") and "partialFilterExpression" in spec for spec in call.index_specs):
        return Breach('cannot mix "partialFilterExpression" and "sparse" options')
    return None


def _size(document: Mapping[str, Any] | None) -> int:
    return len(bson.encode(document)) if document is not None else 0


def _sent_size(call: Call) -> int:
    """The size of the document the call sends whole (an inserted one with the _id the driver adds)."""
    sent = call.sent or {}
    return _size(sent if call.operation != "insert_one" or "_id" in sent else {"_id": ObjectId(), **sent})


def _command_too_large(call: Call) -> Breach | None:
    """pymongo's check of the command it sends, measured here by the document the call sends whole."""
    size, limit = _sent_size(call), MAX_DOCUMENT_BYTES + COMMAND_OVERHEAD_BYTES
    if size <= limit:
        return None
    if call.operation == "insert_one":
        supported = f"the connected server supports BSON document sizes up to {limit} bytes."
        return Breach(f"BSON document too large ({size} bytes) - {supported}")
    command = "findAndModify" if call.operation.startswith("find_one_and") else "update"
    return Breach(f"{command} command document too large")


def _inserted_too_large(call: Call) -> Breach | None:
    size = _sent_size(call)
    if size > MAX_DOCUMENT_BYTES:
        return Breach(f"object to insert too large. size in bytes: {size}, max size: {MAX_DOCUMENT_BYTES}")
    return None


def _may_outgrow(call: Call) -> bool:
    """Whether the result of an update or replacement could pass the limit, which would need it computed.
    An update by operators adds at most what it sends, plus a few bytes a path (nested documents it
    creates, a number $inc widens, the date $currentDate writes for `true`), except an update of array
    elements by position or of all of them ($[...]), which can write once an element: computed."""
    if call.update is None:  # a replacement: what it sends, with the stored _id
        stored_id = max((_size({"_id": target["_id"]}) for target in call.targets), default=_GROWTH_PER_LEVEL)
        return _size(call.sent) + stored_id > MAX_DOCUMENT_BYTES
    for path in call.paths:
        if "$[" in path or any(part.isdigit() for part in path.split(".")):
            return True
    growth = _size(call.update) + sum(_GROWTH_PER_LEVEL * (path.count(".") + 2) for path in call.paths)
    if call.arguments.get("upsert"):
        growth += _size(call.arguments.get("filter"))
    return max(map(_size, call.targets), default=0) + growth > MAX_DOCUMENT_BYTES


def _updated_too_large(call: Call) -> Breach | None:
    if _may_outgrow(call) and any(_size(document) > MAX_DOCUMENT_BYTES for document in call.written):
        return Breach(f"Resulting document after update is larger than {MAX_DOCUMENT_BYTES}")
    return None


def _conflicting_paths(call: Call) -> Breach | None:
    """Two operators (or two fields of one) on one path, or on a path and its prefix."""
    for at, path in enumerate(call.paths):
        for other in call.paths[:at]:
            if overlaps(path, other):
                shorter = min(path, other, key=lambda p: p.count("."))
                return Breach(f"Updating the path '{path}' would create a conflict at '{shorter}'")
    return None


_PARTIAL_INDEXES = "https://www.mongodb.com/docs/v7.0/core/index-partial/"
_LIMITS = "https://www.mongodb.com/docs/v7.0/reference/limits/#mongodb-limit-BSON-Document-Size"

RULES: tuple[Rule, ...] = (
    Rule(
        "a NUL in a $regex pattern or its options",
        QUERYING,
        _nul_in_regex_string,
        # The server's regex match expression refuses it; MongoDB's issue tracker lists the check.
        "https://jira.mongodb.org/browse/SERVER-51266",
        code=2,
        code_name="BadValue",
    ),
    Rule(
        "a NUL in a compiled pattern (a BSON regex is two NUL-terminated strings)",
        QUERYING,
        _nul_in_compiled_pattern,
        "https://bsonspec.org/spec.html",
        driver_error=InvalidDocument,
    ),
    Rule(
        "an expression other than equality, $exists: true, $gt/$gte/$lt/$lte, $type, $and, $or, $in in a "
        "partialFilterExpression",
        INDEXING,
        _unsupported_in_partial_filter,
        _PARTIAL_INDEXES,
        code=67,
        code_name="CannotCreateIndex",
    ),
    Rule(
        "an index both sparse and partial",
        INDEXING,
        _sparse_and_partial,
        _PARTIAL_INDEXES + "#restrictions",
        code=67,
        code_name="CannotCreateIndex",
    ),
    Rule(
        "a command bigger than the server's document limit and pymongo's overhead",
        WRITING,
        _command_too_large,
        _LIMITS,
        driver_error=DocumentTooLarge,
    ),
    Rule(
        "an inserted document over 16 MiB",
        frozenset({"insert_one"}),
        _inserted_too_large,
        _LIMITS,
        code=2,
        code_name="BadValue",
    ),
    Rule(
        "a document over 16 MiB after an update or a replacement",
        UPDATES | REPLACEMENTS,
        _updated_too_large,
        _LIMITS,
        code=17419,
        code_name="Location17419",
    ),
    Rule(
        "two update operators on one path, or on a path and its prefix",
        UPDATES,
        _conflicting_paths,
        "https://www.mongodb.com/docs/v7.0/reference/error-codes/",
        code=40,
        code_name="ConflictingUpdateOperators",
    ),
    Rule(
        "two documents whose keys are explicitly null under a sparse unique index",
        WRITING,
        embedded_duplicates.null_twin,
        "https://www.mongodb.com/docs/v7.0/core/index-sparse/",
        code=11000,
        code_name="DuplicateKey",
    ),
)

_BY_OPERATION: dict[str, list[Rule]] = {}
for _rule in RULES:
    for _operation in _rule.operations:
        _BY_OPERATION.setdefault(_operation, []).append(_rule)


def refuse(call: Call) -> None:
    """Raise the error of the first rule the call breaks."""
    for rule in _BY_OPERATION.get(call.operation, ()):
        breach = rule.check(call)
        if breach is None:
            continue
        if rule.driver_error is not None:
            raise rule.driver_error(breach.message)
        raise call.refused(rule.code, rule.code_name, breach.message, **breach.details)


def guarded(store: Any, operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """mongomock-motor's `method` for `operation` on mongomock's collection `store`, behind the rules."""
    if operation not in _BY_OPERATION:
        return method
    if not inspect.iscoroutinefunction(method):  # find and aggregate open a cursor

        def opened(collection: Any, *args: Any, **kwargs: Any) -> Any:
            refuse(Call(store, operation, args, kwargs))
            return method(collection, *args, **kwargs)

        return opened

    async def run(collection: Any, *args: Any, **kwargs: Any) -> Any:
        call = Call(store, operation, args, kwargs)
        refuse(call)
        try:
            return await method(collection, *args, **kwargs)
        except DuplicateKeyError as error:
            raise embedded_duplicates.reshaped(call, error) from None

    return run
