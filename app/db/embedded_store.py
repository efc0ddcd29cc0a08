"""The embedded store (mongomock-motor), with every operation a round trip to the event loop.

mongomock-motor runs each operation inside its coroutine without ever yielding, so two requests could never
interleave between a read and a write (nor a race between them show in a test). A network driver's caller
yields at each round trip; so does this store: each awaited client, database and collection method, and each
cursor fetch, yields to the event loop before it runs and after it. Only mongomock-motor's public classes
and options are used; mongomock is unchanged (no indexes, but it enforces unique ones and TTL expiry).

One command mongomock lacks is answered here: `collMod` of an index's expireAfterSeconds, as
`python -m app migrate` sends it to a server.

Where MongoDB 7 refuses what mongomock accepts, each collection operation first passes MongoDB's refusals
(embedded_refusals.py), in the same loop step as the operation.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import mongomock
import mongomock_motor
from pymongo.errors import OperationFailure

from app.db import embedded_refusals

# mongomock-motor's type stubs give its classes Motor's signatures (the classes pose as Motor's): as Any.
_mock: Any = mongomock_motor
_Class = TypeVar("_Class", bound=type)
_Operation = Callable[..., Any]


async def _round_trip(operation: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    await asyncio.sleep(0)
    try:
        return await operation(*args, **kwargs)
    finally:
        await asyncio.sleep(0)


_CURSORS = ("find", "aggregate", "list_indexes")  # the methods that return a cursor (not awaited)


def _as_is(self: Any, name: str, method: _Operation) -> _Operation:
    return method


def _round_trips(cls: _Class) -> _Class:
    """cls with each public coroutine method of its base (or its own override) made a round trip, and each
    cursor it returns one whose fetches are; each method as `cls.checked` gives it, if cls has that. The
    base's method is looked up at each call: a test's patch of it still applies."""
    base = cls.__bases__[0]
    own = dict(vars(cls))
    checked = getattr(cls, "checked", _as_is)

    def method(name: str) -> Callable[..., Any]:
        if name in _CURSORS:
            return lambda self, *args, **kwargs: _Cursor(
                checked(self, name, getattr(base, name))(self, *args, **kwargs)
            )

        async def round_trip(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await _round_trip(
                checked(self, name, own.get(name) or getattr(base, name)), self, *args, **kwargs
            )

        return round_trip

    for name in dir(base):
        awaited = not name.startswith("_") and inspect.iscoroutinefunction(getattr(base, name))
        if awaited or name in _CURSORS:
            setattr(cls, name, method(name))
    return cls


class _Cursor:
    """Each fetch (next, to_list, async iteration) a round trip; sort, limit, ... return this cursor."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.cursor, name)
        if inspect.iscoroutinefunction(attribute):
            return lambda *args, **kwargs: _round_trip(attribute, *args, **kwargs)
        if not inspect.ismethod(attribute):
            return attribute

        def chained(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            return self if result is self.cursor else result

        return chained

    def __aiter__(self) -> _Cursor:
        return self

    async def __anext__(self) -> Any:
        return await _round_trip(self.cursor.__anext__)


@_round_trips
class _Collection(_mock.AsyncMongoMockCollection):
    """Its methods round trips behind MongoDB's refusals; its find, aggregate and list_indexes cursors too."""

    def __init__(self, database: Any, collection: Any) -> None:
        super().__init__(database, collection)
        self.store = collection  # mongomock's own, which the refusals read

    def checked(self, name: str, method: _Operation) -> _Operation:
        return embedded_refusals.guarded(self.store, name, method)


@_round_trips
class _Database(_mock.AsyncMongoMockDatabase):
    def get_collection(self, *args: Any, **kwargs: Any) -> Any:
        return _Collection(self, self.delegate.get_collection(*args, **kwargs))

    async def command(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(command, dict) and next(iter(command), None) == "collMod" and "index" in command:
            return _modify_index(self.delegate.get_collection(command["collMod"]), command["index"])
        return await _mock.AsyncMongoMockDatabase.command(self, command, *args, **kwargs)


def _modify_index(collection: Any, change: dict[str, Any]) -> dict[str, Any]:
    """collMod's `index: {name, expireAfterSeconds}` on a TTL index: mongomock's index replaced by one with
    the new value, with no await in between (no other request sees the collection without it)."""
    name = change.get("name")
    found = collection.index_information()
    if name not in found:
        raise OperationFailure(f"cannot find index {name} for ns {collection.full_name}", code=27)
    if set(change) != {"name", "expireAfterSeconds"} or found[name].get("expireAfterSeconds") is None:
        raise OperationFailure(
            f"the embedded store changes only the expireAfterSeconds of a TTL index: {change}"
        )
    spec = found[name]
    options = {option: value for option, value in spec.items() if option not in ("key", "v")}
    collection.drop_index(name)
    collection.create_index(
        spec["key"], name=name, **{**options, "expireAfterSeconds": change["expireAfterSeconds"]}
    )
    return {
        "expireAfterSeconds_old": spec["expireAfterSeconds"],
        "expireAfterSeconds_new": change["expireAfterSeconds"],
        "ok": 1.0,
    }


@_round_trips
class _Client(_mock.AsyncMongoMockClient):
    def __init__(self, **options: Any) -> None:
        self.mongomock_client = mongomock.MongoClient(**options)
        super().__init__(mock_mongo_client=self.mongomock_client)

    def get_database(self, *args: Any, **kwargs: Any) -> Any:
        return _Database(self, self.mongomock_client.get_database(*args, **kwargs))


def build_client() -> Any:
    """A new, empty store: a Motor-like client, timezone-aware as app/db/client.py configures Motor."""
    return _Client(tz_aware=True)
