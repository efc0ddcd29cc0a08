"""Every query the app sends to its store, noted for the index-coverage test (test_query_indexes.py).

The embedded store is wrapped from the outside, through public interfaces only: `recording_factory` is a
client factory for create_app (the seam the start-up tests use) whose client hands out collections that note
each filtering call (its filter, its sort, and the app function that made it) and then pass it on unchanged.
Nothing of mongomock or mongomock-motor is patched.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db import client as db

# The collection methods whose first argument (or `filter`) selects documents.
FILTERED = (
    "find_one",
    "count_documents",
    "distinct",
    "find_one_and_update",
    "find_one_and_replace",
    "find_one_and_delete",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
)
APP = Path(__file__).resolve().parents[2] / "app"
STORE = APP / "db" / "embedded_store.py"

Sort = tuple[tuple[str, int], ...]


@dataclass
class Query:
    collection: str
    operation: str
    filter: Mapping[str, Any]
    sort: Sort = ()
    origin: str = "?"  # the app function that sent it: "app/invoices/numbering.py:held_counters"


@dataclass
class Recorded:
    queries: list[Query] = field(default_factory=list)


def sort_keys(spec: Any, direction: Any = None) -> Sort:
    """A sort as (field, ±1) pairs, from any form the driver takes: "f", ("f", 1), [("f", -1), ...], {f: 1}."""
    if spec is None:
        return ()
    if isinstance(spec, str):
        return ((spec, int(direction or 1)),)
    pairs = spec.items() if isinstance(spec, Mapping) else spec
    return tuple((str(name), int(way)) for name, way in pairs)


def _origin() -> str:
    """The innermost function of app/ (the store's wrapper aside) on the stack: where the query was made."""
    frame = inspect.currentframe()
    while frame is not None:
        path = Path(frame.f_code.co_filename).resolve()
        if path.is_relative_to(APP) and path != STORE:
            return f"{path.relative_to(APP.parent)}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


class RecordingCursor:
    """A find's cursor; a later .sort() is noted on its query."""

    def __init__(self, cursor: Any, query: Query) -> None:
        self._cursor, self._query = cursor, query

    def sort(self, spec: Any, direction: Any = None) -> RecordingCursor:
        self._query.sort = sort_keys(spec, direction)
        self._cursor = (
            self._cursor.sort(spec, direction) if direction is not None else self._cursor.sort(spec)
        )
        return self

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._cursor, name)
        if not callable(attribute) or inspect.iscoroutinefunction(attribute):
            return attribute

        def chained(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            return self if result is self._cursor else result

        return chained

    def __aiter__(self) -> Any:
        return self._cursor.__aiter__()


class RecordingCollection:
    def __init__(self, collection: Any, recorded: Recorded) -> None:
        self._collection, self._recorded = collection, recorded

    def _note(self, operation: str, where: Any, sort: Any = None) -> Query:
        query = Query(self._collection.name, operation, where or {}, sort_keys(sort), _origin())
        self._recorded.queries.append(query)
        return query

    def find(self, *args: Any, **kwargs: Any) -> RecordingCursor:
        where = kwargs.get("filter", args[0] if args else None)
        query = self._note("find", where, kwargs.get("sort"))
        return RecordingCursor(self._collection.find(*args, **kwargs), query)

    def aggregate(self, pipeline: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        """A pipeline's leading $match (and the $sort right after it) is the query the server indexes."""
        first = pipeline[0] if pipeline else {}
        where = first.get("$match", {})
        after = pipeline[1] if where and len(pipeline) > 1 else {}
        self._note("aggregate", where, after.get("$sort"))
        return self._collection.aggregate(pipeline, *args, **kwargs)

    def with_options(self, **options: Any) -> RecordingCollection:
        """Read and write concerns mean nothing to the one-node store (the app skips them on the store's own
        collections, which have no async with_options): the same collection."""
        return self

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if name not in FILTERED:
            return attribute

        def noted(*args: Any, **kwargs: Any) -> Any:
            position = 1 if name == "distinct" else 0
            where = kwargs.get("filter", args[position] if len(args) > position else None)
            self._note(name, where, kwargs.get("sort"))
            return attribute(*args, **kwargs)

        return noted


class RecordingDatabase:
    def __init__(self, database: Any, recorded: Recorded) -> None:
        self._database, self._recorded = database, recorded

    def __getitem__(self, name: str) -> RecordingCollection:
        return RecordingCollection(self._database[name], self._recorded)

    def get_collection(self, name: str, *args: Any, **kwargs: Any) -> RecordingCollection:
        return RecordingCollection(self._database.get_collection(name, *args, **kwargs), self._recorded)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)


class RecordingClient:
    def __init__(self, client: Any, recorded: Recorded) -> None:
        self._client, self._recorded = client, recorded

    def __getitem__(self, name: str) -> RecordingDatabase:
        return RecordingDatabase(self._client[name], self._recorded)

    def get_database(self, name: str, *args: Any, **kwargs: Any) -> RecordingDatabase:
        return RecordingDatabase(self._client.get_database(name, *args, **kwargs), self._recorded)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def recording_factory(recorded: Recorded) -> Callable[[Settings], tuple[Any, bool]]:
    """A create_app client factory: the embedded store, every query noted in `recorded`."""

    def build(settings: Settings) -> tuple[Any, bool]:
        client, embedded = db.build_client(settings)
        return RecordingClient(client, recorded), embedded

    return build
