"""The embedded store (mongomock-motor) with the fast paths it lacks, so that its scans stay short enough not
to stall the event loop it runs on.

mongomock has no indexes: every find, update and unique-index check walks the whole collection and runs its
general query interpreter on each document (3-20 µs a document). With a few thousand jobs or events, one
claim or feed read held the loop for 20-50 ms. None of these changes alters a result, except the TTL sweep,
which changes only when an expired document disappears:

- a filter with an `_id` equality looks the document up by key (the store is a dict keyed by `_id`);
- a filter made only of the common operators (equality, `$in`, `$nin`, `$ne`, `$lt`/`$lte`/`$gt`/`$gte`,
  `$exists`, `$and`/`$or`/`$nor`) on scalar values is compiled once per query into a Python predicate.
  Any document whose queried field holds an array or an embedded document (where MongoDB's matching rules
  are subtle), and any filter with another operator, is matched by mongomock's own interpreter, so results
  are exactly mongomock's (tests/unit/test_embedded_store_fast_paths.py compares the two on generated
  filters);
- the unique-index check after a write compares the indexed fields directly in the plain case;
- a sort on plain scalar values uses native tuple keys, a cursor with a limit (find_one too) copies only
  the documents it returns, not every match, and a projection of top-level fields by name copies them
  without rebuilding its spec for each document;
- `find_one` and the common updates of one document by `_id` skip mongomock's general machinery
  (app/core/embedded_by_id.py);
- TTL indexes are swept at most once a minute of the store's clock, as MongoDB's TTL monitor sweeps them
  (a sweep walks the collection: once a second, it was a 2-3 ms step every second for each of the feed's
  and the deliveries' collections);
- the deep copies mongomock makes of stored documents (the snapshot an update keeps for its rollback, the
  arrays it sets) and its pass that truncates the datetimes of every filter and update copy dictionaries and
  lists directly, sharing the immutable scalars instead of rebuilding each through `copy`'s reduce protocol
  (any other type takes mongomock's own route).

And every operation yields to the event loop before and after it runs, as a network driver's caller does
around each round trip.

Only the embedded store is changed; a real MongoDB uses its indexes.
"""

from __future__ import annotations

import asyncio
import copy as copying
import functools
import inspect
import itertools
import operator
import types
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import mongomock
from bson import Decimal128, ObjectId
from mongomock import collection as mongomock_collection
from mongomock import filtering, helpers
from mongomock.collection import Collection, Cursor
from mongomock.helpers import utc as mongomock_utc
from mongomock.store import CollectionStore
from pymongo.errors import DuplicateKeyError
from sentinels import NOTHING

Predicate = Callable[[dict[str, Any]], bool]

# Scalars whose comparisons follow Python's own (as mongomock's interpreter does for them).
_SCALARS = (str, int, float, bool, ObjectId, datetime, Decimal128, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)
_ORDERINGS = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge}
_KEY_LOOKUP_TYPES = (ObjectId, str, int)
TTL_SWEEP = timedelta(seconds=60)  # mongod's TTL monitor default (ttlMonitorSleepSecs)


class _NotSimple(Exception):
    """This filter, or this document's value, is outside the fast path: use mongomock's interpreter."""


def _scalar(value: Any) -> bool:
    return isinstance(value, _SCALARS)


def _getter(key: str) -> Callable[[dict[str, Any]], Any]:
    """The value at a (dotted) key through embedded documents; NOTHING when missing. An array or a scalar on
    the way, or an array or a document at the end, raises _NotSimple (MongoDB's rules for those are the
    interpreter's job)."""
    parts = key.split(".")
    if any(part.isdigit() or part.startswith("$") for part in parts):
        raise _NotSimple(key)
    if len(parts) == 1:  # the common case, without the walk

        def get_top(document: dict[str, Any]) -> Any:
            value = document.get(key, NOTHING)
            if value is NOTHING or type(value) in _SCALAR_TYPES or _scalar(value):
                return value
            raise _NotSimple(key)

        return get_top

    def get(document: dict[str, Any]) -> Any:
        value: Any = document
        for part in parts:
            if value is NOTHING:  # a missing parent: the field is missing
                return NOTHING
            if not isinstance(value, dict):  # an array or a scalar parent: the interpreter's rules
                raise _NotSimple(key)
            value = value.get(part, NOTHING)
        if value is NOTHING or _scalar(value):
            return value
        raise _NotSimple(key)

    return get


def _compare_type(value: Any) -> int:
    return filtering._get_compare_type(value)  # mongomock's BSON type brackets


def _condition(op: str, wanted: Any) -> Callable[[Any], bool]:
    """One operator applied to a field's scalar value (or NOTHING), exactly as mongomock applies it."""
    if op == "$eq":
        if not _scalar(wanted):
            raise _NotSimple(op)
        if wanted is None:
            return lambda value: value is NOTHING or value is None
        return lambda value: value is not NOTHING and value == wanted
    if op == "$ne":
        equal = _condition("$eq", wanted)
        return lambda value: not equal(value)
    if op in ("$in", "$nin"):
        if not isinstance(wanted, list | tuple) or not all(_scalar(item) for item in wanted):
            raise _NotSimple(op)
        choices = list(wanted)
        with_null = None in choices

        def within(value: Any) -> bool:
            return with_null if value is NOTHING else value in choices

        return within if op == "$in" else (lambda value: not within(value))
    if op in _ORDERINGS:
        if not _scalar(wanted):
            raise _NotSimple(op)
        try:
            compare, bracket = _ORDERINGS[op], _compare_type(wanted)
        except NotImplementedError as exc:  # a type mongomock cannot order: it raises per document
            raise _NotSimple(op) from exc
        if wanted is None:
            return lambda value: value is not NOTHING and _compare_type(value) == bracket and compare(0, 0)
        return lambda value: (
            value is not NOTHING and _compare_type(value) == bracket and compare(value, wanted)
        )
    if op == "$exists":
        present = bool(wanted)
        return lambda value: (value is not NOTHING) == present
    raise _NotSimple(op)


def _field(key: str, search: Any) -> Predicate:
    get = _getter(key)
    if isinstance(search, dict):
        if not search or not all(op.startswith("$") for op in search):
            raise _NotSimple(key)  # an embedded document as the value: whole-document equality
        conditions = [_condition(op, wanted) for op, wanted in search.items()]
        if len(conditions) == 1:
            only = conditions[0]
            return lambda document: only(get(document))

        def every(document: dict[str, Any]) -> bool:
            value = get(document)
            for condition in conditions:
                if not condition(value):
                    return False
            return True

        return every
    equal = _condition("$eq", search)
    return lambda document: equal(get(document))


def _logical(op: str, branches: list[Predicate]) -> Predicate:
    if op == "$and":
        return lambda document: all(branch(document) for branch in branches)
    if op == "$or":
        return lambda document: any(branch(document) for branch in branches)
    return lambda document: not any(branch(document) for branch in branches)  # $nor


def compile_filter(search_filter: dict[str, Any]) -> Predicate:
    """A predicate equal to mongomock's `filter_applies(search_filter, document)`, or _NotSimple."""
    if not isinstance(search_filter, dict):
        raise _NotSimple("not a document")
    parts: list[Predicate] = []
    for key, search in search_filter.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(search, list) or not search:
                raise _NotSimple(key)  # mongomock raises the right error itself
            parts.append(_logical(key, [compile_filter(branch) for branch in search]))
        elif key.startswith("$"):
            raise _NotSimple(key)
        else:
            parts.append(_field(key, search))
    if len(parts) == 1:
        return parts[0]

    def conjunction(document: dict[str, Any]) -> bool:
        for part in parts:
            if not part(document):
                return False
        return True

    return conjunction


def _matcher(search_filter: dict[str, Any]) -> Predicate:
    try:
        compiled = compile_filter(search_filter)
    except _NotSimple:
        return lambda document: filtering.filter_applies(search_filter, document)

    def match(document: dict[str, Any]) -> bool:
        try:
            return compiled(document)
        except _NotSimple:  # an array or an embedded document in this document's queried field
            return filtering.filter_applies(search_filter, document)

    return match


def _by_key(store: Any, search_filter: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The one document an `_id` equality can match, looked up by key; None when the filter has none."""
    if not isinstance(search_filter, dict):
        return None
    key = search_filter.get("_id", NOTHING)
    if not isinstance(key, _KEY_LOOKUP_TYPES) or isinstance(key, bool):
        return None
    store._remove_expired_documents()
    found = store._documents.get(key)  # one lookup is atomic (the store's lock guards its walks)
    return [] if found is None else [found]


def _iter_documents(self: Collection, search_filter: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if self._store.is_empty:
        filtering.filter_applies(search_filter, {})  # validates the filter, as mongomock does
    candidates = _by_key(self._store, search_filter)
    if candidates is not None:  # one document at most: compiling the filter would cost more than it saves
        return (document for document in candidates if filtering.filter_applies(search_filter, document))
    match = _matcher(search_filter)
    return (document for document in list(self._store.documents) if match(document))


def _ensure_uniques(self: Collection, new_data: dict[str, Any]) -> None:
    """mongomock's unique-index check after a write, without its filter machinery for indexes on top-level
    fields holding scalars (otherwise, and for any document holding an array or a document in an indexed
    field, mongomock's own check runs). As mongomock does: a sparse index skips a document whose indexed
    values are all missing or null, and a partial index counts only the documents its filter matches (a
    written document it does not match cannot collide).

    A write that leaves a document's indexed values (and whether a partial index holds it) as they were when
    last checked cannot make a twin (no other document holds them: its own write would have been refused),
    so it is not checked again: most updates (a job's state, a delivery's attempts) never touch a unique
    field."""
    store = self._store
    store._remove_expired_documents()
    document_id = new_data.get("_id")
    seen: dict[tuple[str, Any], tuple[Any, ...]] = store.__dict__.setdefault("_unique_values_seen", {})
    checked: list[tuple[tuple[str, Any], tuple[Any, ...]]] = []
    for name, index in store.indexes.items():
        if not index.get("unique"):
            continue
        keys = [key for key, _ in index["key"]]
        if any("." in key for key in keys):
            return _mongomock_ensure_uniques(self, new_data)
        wanted = tuple(new_data.get(key) for key in keys)  # a missing field is indexed as null
        if not all(_scalar(value) for value in wanted):
            return _mongomock_ensure_uniques(self, new_data)
        partial = index.get("partialFilterExpression")
        held_by_index = _matcher(partial) if partial is not None else None
        skipped = (index.get("sparse") and all(value is None for value in wanted)) or (
            held_by_index is not None and not held_by_index(new_data)
        )
        memo, state = (name, document_id), (skipped, *wanted)
        if skipped or (isinstance(document_id, _KEY_LOOKUP_TYPES) and seen.get(memo) == state):
            checked.append((memo, state))
            continue
        same = 0
        with store._rwlock.reader():
            for document in store._documents.values():
                for key, value in zip(keys, wanted, strict=True):
                    held = document.get(key)
                    if isinstance(held, list | tuple | dict):
                        return _mongomock_ensure_uniques(self, new_data)
                    if held != value:
                        break
                else:
                    if held_by_index is None or held_by_index(document):
                        same += 1
        if same > 1:
            raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
        checked.append((memo, state))
    if isinstance(document_id, _KEY_LOOKUP_TYPES):
        seen.update(checked)
    return None


# The scalars Python orders as mongomock does (mongomock cannot order Decimal128 at all).
_SORTABLE = tuple(kind for kind in _SCALARS if kind is not Decimal128)


def _native_sort(documents: list[dict[str, Any]], sort: list[tuple[str, int]]) -> list[dict[str, Any]] | None:
    """The documents in mongomock's order for `sort`, with plain tuples as keys instead of its BSON
    comparison objects; None when a key is an operator or a value is not a plain scalar (mongomock's own
    sort then runs). Keys are (present, BSON type bracket, value): values of one bracket compare natively,
    as mongomock compares them."""
    keyed: list[tuple[dict[str, Any], list[tuple[int, int, Any]]]] = []
    try:
        getters = [_getter(key) for key, _ in sort if not key.startswith("$")]
    except _NotSimple:
        return None
    if len(getters) != len(sort):
        return None
    for document in documents:
        keys: list[tuple[int, int, Any]] = []
        for get in getters:
            try:
                value = get(document)
            except _NotSimple:
                return None
            if value is NOTHING or value is None:
                keys.append((1, 5, 0))  # missing and null sort as null
            elif isinstance(value, _SORTABLE):
                keys.append((1, _compare_type(value), value))
            else:
                return None
        keyed.append((document, keys))
    for position in reversed(range(len(sort))):  # stable sorts, the last key first, as mongomock does
        keyed.sort(key=lambda item: item[1][position], reverse=sort[position][1] < 0)
    return [document for document, _ in keyed]


def _get_dataset(self: Collection, spec: Any, sort: Any, fields: Any, as_class: Any) -> Iterator[Any]:
    if sort:
        sort = list(sort.items() if isinstance(sort, dict) else sort)
        documents = list(self._iter_documents(spec))
        ordered = _native_sort(documents, sort)
        if ordered is None:  # mongomock's own sort, which filters again (only for arrays, documents, ...)
            return _mongomock_get_dataset(self, spec, sort, fields, as_class)
        return (self._copy_only_fields(document, fields, as_class) for document in ordered)
    return _mongomock_get_dataset(self, spec, sort, fields, as_class)


def _remove_expired_documents(store: CollectionStore) -> None:
    """mongomock checks every document against its TTL indexes on every read; like mongod's TTL monitor
    (which runs every 60 s, so expired documents stay visible up to a minute on MongoDB too), sweep at most
    once per TTL_SWEEP of the store's clock."""
    if not store._ttl_indexes:
        return
    now = mongomock.utcnow()  # type: ignore[attr-defined]
    last = getattr(store, "_swept_at", None)
    if last is not None and timedelta(0) <= now - last < TTL_SWEEP:
        return
    store._swept_at = now  # type: ignore[attr-defined]
    _mongomock_remove_expired_documents(store)


def _forget_unique_values(store: CollectionStore, document_id: Any = NOTHING) -> None:
    """A deleted document (or a dropped collection) is not a checked one: a new document under its `_id`
    is checked in full."""
    seen = store.__dict__.get("_unique_values_seen")
    if not seen:
        return
    if document_id is NOTHING:
        seen.clear()
    else:
        for name in store.indexes:
            seen.pop((name, document_id), None)


def _delete_document(store: CollectionStore, key: Any) -> None:
    _mongomock_delitem(store, key)
    _forget_unique_values(store, key)


def _drop(store: CollectionStore) -> None:
    _mongomock_drop(store)
    _forget_unique_values(store)


def _compute_results(self: Cursor, with_limit_and_skip: bool = False) -> list[dict[str, Any]]:
    """mongomock's cursor copies every matching document before it applies skip and limit (a find_one over
    a thousand matches copied a thousand); with a limit, only the window is copied."""
    if not (with_limit_and_skip and self._limit) or (
        self._results and self._factory_last_generated_results == self._factory
    ):
        return _mongomock_compute_results(self, with_limit_and_skip)
    key = (self._factory, self._skip, self._limit)
    if getattr(self, "_window_key", None) != key:
        window = list(itertools.islice(self._factory(), self._skip, self._skip + abs(self._limit)))
        if self.collection.codec_options.tz_aware:
            window = [_timezone_aware(document) for document in window]
        self.__dict__.update(_window=window, _window_key=key)
    return self.__dict__["_window"]


def _find_one(self: Collection, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
    """mongomock's find_one, asking its cursor for one document (as PyMongo's find_one does); by `_id`,
    without a cursor."""
    if not args:
        found = _by_id.find_one(self, filter, **kwargs)
        if found is not NOTHING:
            return found
    if len(args) < 3 and "limit" not in kwargs:  # find(filter, projection, skip, limit, ...)
        kwargs["limit"] = 1
    return _mongomock_find_one(self, filter, *args, **kwargs)


# Values a copy may share with the stored document: nothing can change them in place.
_SHARED_TYPES = _SCALAR_TYPES | {bytes}
_SHARED_WITHOUT_DATETIMES = _SHARED_TYPES - {datetime}


def _copy_field(value: Any, container: Any) -> Any:
    """mongomock's copy of a stored value (lists and documents copied all the way down, documents into
    `container`), without copy.copy's round trip for the immutable scalars a document holds."""
    kind = type(value)
    if kind in _SHARED_TYPES:
        return value
    if kind is dict or (kind is not list and isinstance(value, dict)):
        new = container()
        for key, item in value.items():
            new[key] = _copy_field(item, container)
        return new
    if isinstance(value, list):
        return [_copy_field(item, container) for item in value]
    return copying.copy(value)


def _timezone_aware(value: Any) -> Any:
    """mongomock's make_datetime_timezone_aware_in_document (stored datetimes are naive UTC), skipping the
    scalars that hold no datetime."""
    kind = type(value)
    if kind in _SHARED_WITHOUT_DATETIMES:
        return value
    if isinstance(value, dict):
        return {key: _timezone_aware(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_timezone_aware(item) for item in value]
    if isinstance(value, datetime):
        return value.replace(tzinfo=mongomock_utc)
    return value


def _deep_copy(value: Any) -> Any:
    """copy.deepcopy for what a stored document holds: plain dictionaries and lists rebuilt all the way
    down, immutable scalars shared; any other type (a tuple, an OrderedDict, a Timestamp, ...) through
    copy.deepcopy itself."""
    kind = type(value)
    if kind in _SHARED_TYPES:
        return value
    if kind is dict:
        return {key: _deep_copy(item) for key, item in value.items()}
    if kind is list:
        return [_deep_copy(item) for item in value]
    return copying.deepcopy(value)


# What mongomock's collection module sees as `copy`: the same module with the deep copy above.
_copy_module_for_mongomock = types.SimpleNamespace(
    **{**{name: getattr(copying, name) for name in copying.__all__}, "deepcopy": _deep_copy}
)


def _datetime_as_stored(value: datetime) -> datetime:
    """MongoDB keeps a datetime as UTC milliseconds; mongomock keeps it naive, in UTC."""
    milliseconds_only = value.microsecond // 1000 * 1000
    if value.tzinfo:
        return (value - value.utcoffset()).replace(tzinfo=None, microsecond=milliseconds_only)  # type: ignore[operator]
    return value.replace(microsecond=milliseconds_only)


def _datetimes_as_stored(value: Any) -> Any:
    """mongomock's patch_datetime_awareness_in_document (datetimes to naive UTC at millisecond precision),
    returning the scalars that hold no datetime as they are without its round of isinstance checks."""
    kind = type(value)
    if kind in _SHARED_WITHOUT_DATETIMES:
        return value
    if kind is datetime:
        return _datetime_as_stored(value)
    if kind is dict:
        return {key: _datetimes_as_stored(item) for key, item in value.items()}
    if kind is list:
        return [_datetimes_as_stored(item) for item in value]
    return _mongomock_patch_datetime_awareness(value)


def _copy_only_fields(self: Collection, document: Any, fields: Any, container: Any) -> Any:
    """mongomock's projection, without rebuilding the projection spec for every document in the plain case
    (top-level fields included by name, `_id` in or out): the same copy, in the same key order."""
    if fields is None:
        return _copy_field(document, container)
    if not isinstance(fields, dict) or not fields or any("." in key or key.startswith("$") for key in fields):
        return _mongomock_copy_only_fields(self, document, fields, container)
    included = [key for key in fields if key != "_id"]
    if not included or not all(fields[key] is True or fields[key] == 1 for key in included):
        return _mongomock_copy_only_fields(self, document, fields, container)
    copy = container()
    for key, value in document.items():
        if key != "_id" and key in fields:
            copy[key] = _copy_field(value, container)
    if fields.get("_id", 1) != 0 and "_id" in document:
        copy["_id"] = document["_id"]
    return copy


def _update(
    self: Collection, spec: Any, document: Any, upsert: Any = False, *args: Any, **kwargs: Any
) -> Any:
    """mongomock's `_update` (behind update_one, update_many and find_one_and_update); by `_id`, without its
    general machinery when the update is a common one."""
    if not args:
        result = _by_id.update(self, spec, document, upsert, kwargs)
        if result is not NOTHING:
            return result
    return _mongomock_update(self, spec, document, upsert, *args, **kwargs)


_mongomock_ensure_uniques = Collection._ensure_uniques
_mongomock_update = Collection._update
_mongomock_copy_only_fields = Collection._copy_only_fields
_mongomock_get_dataset = Collection._get_dataset
_mongomock_find_one = Collection.find_one
_mongomock_compute_results = Cursor._compute_results
_mongomock_delitem = CollectionStore.__delitem__
_mongomock_drop = CollectionStore.drop
_mongomock_remove_expired_documents = CollectionStore._remove_expired_documents
_mongomock_patch_datetime_awareness = helpers.patch_datetime_awareness_in_document


def _yield_like_a_network_driver() -> None:
    """mongomock-motor runs each operation synchronously and never yields to the event loop, so a task
    doing many operations in a row (the webhook fan-out of a batch of events) held the loop for all of them,
    and two requests could never interleave between a read and a write. A real driver yields at every round
    trip: the operation runs on the server while the loop serves others, and the code after it runs when the
    answer comes. So does the embedded store: it yields before each operation and after it, so the operation
    is a step of its own, as short as it can be, and never merged with the caller's code on either side
    (which is also what lets the concurrency tests fail)."""
    import mongomock_motor

    def yielding(method: Any) -> Any:
        @functools.wraps(method)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            try:
                return await method(*args, **kwargs)
            finally:
                await asyncio.sleep(0)

        return wrapper

    for cls in (
        mongomock_motor.AsyncMongoMockCollection,
        mongomock_motor.AsyncMongoMockDatabase,
        mongomock_motor.AsyncCursor,
        mongomock_motor.AsyncCommandCursor,
        mongomock_motor.AsyncLatentCommandCursor,
    ):
        for klass in cls.__mro__[:-1]:  # the public classes are subclasses of the ones holding the methods
            for name, member in list(vars(klass).items()):
                if inspect.iscoroutinefunction(member) and not name.startswith("__"):
                    setattr(klass, name, yielding(member))


_installed = False
_by_id: Any = None  # app.core.embedded_by_id, which builds on this module: imported by install()


def install() -> None:
    """Put the fast paths in place (once per process; before the first client is built)."""
    global _installed, _by_id
    if not _installed:
        from app.core import embedded_by_id

        _by_id = embedded_by_id
        _yield_like_a_network_driver()
        Collection._iter_documents = _iter_documents  # type: ignore[method-assign]
        Collection._ensure_uniques = _ensure_uniques  # type: ignore[method-assign]
        Collection._get_dataset = _get_dataset  # type: ignore[method-assign]
        Collection._copy_only_fields = _copy_only_fields  # type: ignore[method-assign]
        Collection.find_one = _find_one  # type: ignore[method-assign]
        Collection._update = _update  # type: ignore[method-assign]
        Cursor._compute_results = _compute_results  # type: ignore[method-assign]
        CollectionStore._remove_expired_documents = _remove_expired_documents  # type: ignore[method-assign]
        CollectionStore.__delitem__ = _delete_document  # type: ignore[method-assign]
        CollectionStore.drop = _drop  # type: ignore[method-assign]
        mongomock_collection.copy = _copy_module_for_mongomock  # type: ignore[assignment]
        helpers.patch_datetime_awareness_in_document = _datetimes_as_stored
        _installed = True


def build_client() -> Any:
    from mongomock_motor import AsyncMongoMockClient

    install()
    return AsyncMongoMockClient(tz_aware=True)
