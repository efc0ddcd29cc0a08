"""The embedded store's operations on the one document an `_id` equality names, without mongomock's general
machinery: `find_one` copies the document once, and an update made only of `$set`, `$unset`, `$inc` and
`$push` (plain values, top-level fields, each field once) builds the new document from the stored one
instead of applying each operator through mongomock's positional-aware updaters to the stored document
after a deep copy of it for the rollback.

These are the worker's operations (a claim, an attempt recorded, a job finished) and most of the API's
writes; they ran as several milliseconds of loop time each under load, in front of the requests. Anything
else (an upsert, an operator or a value outside the list above, a dotted field, a filter without an `_id`
equality) goes to mongomock's own code, so the results are mongomock's; tests/unit/test_embedded_by_id.py
compares the two on generated documents and updates.

Only the embedded store is changed; a real MongoDB applies updates itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mongomock import filtering
from mongomock.collection import Collection
from mongomock.helpers import utc as mongomock_utc
from mongomock_motor.patches import _normalize_strings
from pymongo.errors import DuplicateKeyError
from sentinels import NOTHING

from app.core import embedded_store as store_paths

_OPERATORS = frozenset({"$set", "$unset", "$inc", "$push"})
_PUSH_MODIFIERS = frozenset({"$each", "$slice"})
_INT64 = range(-(2**63), 2**63)


class _Unplanned(Exception):
    """This operation, or this document, is outside the fast path: mongomock's own code runs."""


def _utf8(text: str) -> bool:
    """Whether BSON can hold the string (a lone surrogate has no UTF-8 form)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _stored(value: Any) -> Any:
    """A value of an update as mongomock stores it (datetimes naive UTC at millisecond precision), or
    _Unplanned when it is not plain data BSON stores as it is (string keys without NUL, 64-bit integers)."""
    kind = type(value)
    if kind in store_paths._SHARED_WITHOUT_DATETIMES:
        if kind is int and value not in _INT64:
            raise _Unplanned("an integer BSON cannot hold")
        if kind is str and not _utf8(value):
            raise _Unplanned("a string BSON cannot hold")
        return value
    if kind is dict:
        for key in value:
            if type(key) is not str or "\0" in key or not _utf8(key):
                raise _Unplanned(key)
        return {key: _stored(item) for key, item in value.items()}
    if kind is list:
        return [_stored(item) for item in value]
    if kind is datetime:
        return store_paths._datetime_as_stored(value)
    raise _Unplanned(kind)


def _as_queried(value: Any) -> Any:
    """A filter as mongomock matches it: beanie's field names as plain strings (mongomock-motor's pass),
    datetimes as stored (mongomock's); one walk for both."""
    kind = type(value)
    if kind in store_paths._SHARED_WITHOUT_DATETIMES:
        return value
    if kind is dict:
        return {
            (key if type(key) is str else _normalize_strings(key)): _as_queried(item)
            for key, item in value.items()
        }
    if kind is list:
        return [_as_queried(item) for item in value]
    return store_paths._datetimes_as_stored(_normalize_strings(value))


def _field_name(name: Any) -> str:
    if type(name) is not str or not name or name == "_id" or "." in name or "\0" in name or name[0] == "$":
        raise _Unplanned(name)
    return name


def _aware_copy(value: Any) -> Any:
    """A stored value as a tz-aware client reads it: mongomock's copy, then its timezone pass, in one walk."""
    kind = type(value)
    if kind in store_paths._SHARED_WITHOUT_DATETIMES:
        return value
    if kind is datetime:
        return value.replace(tzinfo=mongomock_utc)
    if kind is dict:
        return {key: _aware_copy(item) for key, item in value.items()}
    if kind is list:
        return [_aware_copy(item) for item in value]
    return store_paths._timezone_aware(store_paths._copy_field(value, dict))


def _the_document(collection: Collection, search_filter: Any) -> dict[str, Any] | None:
    """The stored document `search_filter` matches through its `_id` equality (None: no such document)."""
    if type(search_filter) is not dict:
        raise _Unplanned("not a plain filter")
    spec = _as_queried(search_filter)
    store = collection._store
    if not store._documents:
        raise _Unplanned("an empty collection")  # mongomock validates the filter against nothing
    candidates = store_paths._by_key(store, spec)
    if candidates is None:
        raise _Unplanned("no _id equality")
    if not candidates:
        return None
    document = candidates[0]
    if len(spec) > 1 and not filtering.filter_applies(spec, document):
        return None
    return document


def find_one(collection: Collection, search_filter: Any, **options: Any) -> Any:
    """mongomock's find_one(search_filter) (no projection, no sort), or NOTHING when outside the fast path."""
    if any(value is not None for value in options.values()) or not set(options) <= {"projection", "sort"}:
        return NOTHING
    try:
        document = _the_document(collection, search_filter)
    except _Unplanned:
        return NOTHING
    if document is None:
        return None
    if collection.codec_options.tz_aware:
        return _aware_copy(document)
    return store_paths._copy_field(document, dict)


def _checked_update(update: Any) -> dict[str, dict[str, Any]]:
    """The update with its values as mongomock stores them, or _Unplanned."""
    if type(update) is not dict or not update:
        raise _Unplanned("not an operator update")
    checked: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for operator, fields in update.items():
        if operator not in _OPERATORS or type(fields) is not dict or not fields:
            raise _Unplanned(operator)
        values = checked[operator] = {}
        for name, value in fields.items():
            if _field_name(name) in seen:
                raise _Unplanned(name)  # MongoDB refuses a conflict; mongomock applies both: its call
            seen.add(name)
            if operator == "$inc" and type(value) not in (int, float):
                raise _Unplanned(operator)
            if operator == "$push" and type(value) is dict and any(str(key).startswith("$") for key in value):
                each, cut = value.get("$each", NOTHING), value.get("$slice", 0)
                if not set(value) <= _PUSH_MODIFIERS or type(each) is not list or type(cut) is not int:
                    raise _Unplanned(operator)
                values[name] = {**value, "$each": _stored(each)}
            else:
                values[name] = value if operator == "$unset" else _stored(value)
    return checked


def _fields_read(search_filter: Any) -> set[str] | None:
    """The top-level fields a (partial index's) filter looks at; None when it cannot be told."""
    if not isinstance(search_filter, dict):
        return None
    fields: set[str] = set()
    for key, value in search_filter.items():
        if key in ("$and", "$or", "$nor") and isinstance(value, list):
            for branch in value:
                inner = _fields_read(branch)
                if inner is None:
                    return None
                fields |= inner
        elif not isinstance(key, str) or key.startswith("$"):
            return None
        else:
            fields.add(key.split(".")[0])
    return fields


def _may_make_twins(indexes: dict[str, dict[str, Any]], changed_fields: set[str]) -> bool:
    """Whether a write to these fields can change what a unique index holds for the document (its indexed
    values, or whether its partial filter takes it in); when it cannot, the write cannot make a twin."""
    for index in indexes.values():
        if not index.get("unique"):
            continue
        read = {key.split(".")[0] for key, _ in index["key"]}
        if "partialFilterExpression" in index:
            in_filter = _fields_read(index["partialFilterExpression"])
            if in_filter is None:
                return True
            read |= in_filter
        if read & changed_fields:
            return True
    return False


def _pushed(current: Any, value: Any) -> list[Any]:
    if current is NOTHING:
        current = []
    elif type(current) is not list:
        raise _Unplanned("$push onto a non-array")
    if type(value) is dict and "$each" in value:
        pushed = [*current, *value["$each"]]
        cut = value.get("$slice", NOTHING)
        if cut is NOTHING:
            return pushed
        return pushed[cut:] if cut < 0 else pushed[:cut]
    return [*current, value]


def _updated(document: dict[str, Any], update: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The document after the update, built beside the stored one (which stays as it was)."""
    new = dict(document)
    for operator, fields in update.items():
        for name, value in fields.items():
            if operator == "$set":
                new[name] = value  # already a fresh copy: _stored rebuilt every list and dictionary
            elif operator == "$unset":
                new.pop(name, None)
            elif operator == "$inc":
                current = new.get(name, 0)
                if type(current) not in (int, float):
                    raise _Unplanned("$inc of a non-number")
                new[name] = current + value
            else:
                new[name] = _pushed(new.get(name, NOTHING), value)
    return new


def update(
    collection: Collection, spec: Any, update_document: Any, upsert: Any, options: dict[str, Any]
) -> Any:
    """mongomock's `_update` result for one document named by `_id`, or NOTHING when outside the fast path."""
    if upsert or any(value for key, value in options.items() if key != "multi"):
        return NOTHING
    try:
        planned = _checked_update(update_document)
        document = _the_document(collection, spec)
        new = None if document is None else _updated(document, planned)
    except _Unplanned:
        return NOTHING
    # Python's == takes True for 1, 1 for 1.0 and {x, y} for {y, x}: such an update counts as no change (as
    # mongomock counts it) but its values are stored all the same, as MongoDB stores them
    changed = document is not None and new != document
    if document is not None:
        store = collection._store
        store[document["_id"]] = new
        if changed:
            written = {name for fields in planned.values() for name in fields}
            if _may_make_twins(store.indexes, written):
                try:
                    collection._ensure_uniques(new)
                except DuplicateKeyError:
                    store[document["_id"]] = document
                    raise
    return {
        "connectionId": collection.database.client._id,
        "err": None,
        "n": 0 if document is None else 1,
        "nModified": 1 if changed else 0,
        "ok": 1,
        "upserted": None,
        "updatedExisting": document is not None,
    }
