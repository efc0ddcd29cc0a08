"""Unique indexes as MongoDB keeps them, for the embedded store.

- MongoDB's duplicate key error names the index, carries its `keyPattern` and the duplicated `keyValue` in
  its details, and says `E11000 duplicate key error collection: <db>.<coll> index: <name> dup key: { ... }`;
  mongomock's carries none of that. `reshaped` finds the index among the collection's `index_information()`
  and answers as MongoDB does (https://www.mongodb.com/docs/v7.0/core/index-unique/).
- A sparse index skips only the documents missing every key: a key explicitly null is indexed, so under a
  sparse unique index two documents with null keys collide, where mongomock skips them as if the keys were
  missing. `null_twin` finds that collision (https://www.mongodb.com/docs/v7.0/core/index-sparse/).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import mongomock
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from app.db.embedded_call import Breach, Call, overlaps

_MISSING = object()
_ID_INDEX = "_id_"


def _get(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


@dataclass(frozen=True)
class UniqueIndex:
    name: str
    pattern: dict[str, Any]
    sparse: bool
    partial: Mapping[str, Any] | None

    @classmethod
    def of(cls, name: str, spec: Mapping[str, Any]) -> UniqueIndex:
        """From an index's spec, as index_information() or pymongo's IndexModel gives it."""
        return cls(name, dict(spec["key"]), bool(spec.get("sparse")), spec.get("partialFilterExpression"))

    def key(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """The document's key in this index (a missing field is null)."""
        values = {field: _get(document, field) for field in self.pattern}
        return {field: None if value is _MISSING else value for field, value in values.items()}

    def holds(self, document: Mapping[str, Any]) -> bool:
        """Whether the index has an entry for the document, its partial filter aside."""
        return not self.sparse or any(_get(document, field) is not _MISSING for field in self.pattern)

    def holding(self, key: Mapping[str, Any]) -> dict[str, Any]:
        """The query for the stored documents this index holds under `key`."""
        query: dict[str, Any] = dict(key)
        if self.sparse:
            query["$or"] = [{field: {"$exists": True}} for field in self.pattern]
        return {"$and": [self.partial, query]} if self.partial else query


def unique_indexes(store: Any) -> list[UniqueIndex]:
    return [
        UniqueIndex.of(name, spec)
        for name, spec in store.index_information().items()
        if spec.get("unique") or name == _ID_INDEX
    ]


def null_twin(call: Call) -> Breach | None:
    """The collision of documents whose keys are all null (one at least present) under a sparse unique
    index, between what the call writes and what is stored (or within what it writes)."""
    for index in (index for index in unique_indexes(call.store) if index.sparse):
        if not _may_null_key(call, index):
            continue
        nulls = [d for d in call.written if index.holds(d) and all(v is None for v in index.key(d).values())]
        if not nulls:
            continue
        query = index.holding(index.key(nulls[0]))
        written = [document["_id"] for document in call.written if "_id" in document]
        if written:
            query["_id"] = {"$nin": written}
        if len(nulls) > 1 or call.store.find_one(query, {"_id": 1}) is not None:
            return _duplicate(call, index, index.key(nulls[0]))
    return None


def _may_null_key(call: Call, index: UniqueIndex) -> bool:
    """Whether what the call writes may hold a null key in `index` that what it changes did not hold: an
    update that only sets key fields to values or unsets them cannot (the sequencer numbering an event)."""
    if call.update is None or call.arguments.get("upsert"):
        return True
    settled = {
        path
        for operator, fields in call.update.items()
        if operator in ("$set", "$unset") and isinstance(fields, Mapping)
        for path, value in fields.items()
        if path in index.pattern and (operator == "$unset" or value is not None)
    }
    return any(overlaps(path, field) for path in call.paths if path not in settled for field in index.pattern)


def reshaped(call: Call, error: DuplicateKeyError) -> Exception:
    """mongomock's duplicate key error as MongoDB answers it (mongomock's own if no index can be told)."""
    creating = call.operation in ("create_index", "create_indexes")
    found = _built_duplicate(call) if creating else _written_duplicate(call)
    if found is None:
        return error
    breach = _duplicate(call, *found)
    return call.refused(11000, "DuplicateKey", breach.message, **breach.details)


def _written_duplicate(call: Call) -> tuple[UniqueIndex, dict[str, Any]] | None:
    indexes = unique_indexes(call.store)
    for document in call.written:
        added = not call.is_stored(document)
        for index in indexes:
            if index.name == _ID_INDEX and not added:
                continue
            if not index.holds(document) or not _matches(call, document, index.partial):
                continue
            key = index.key(document)
            query = index.holding(key)
            if index.name != _ID_INDEX and "_id" in document:
                query = {"$and": [query, {"_id": {"$ne": document["_id"]}}]}
            if call.store.find_one(query, {"_id": 1}) is not None:
                return index, key
    return None


def _built_duplicate(call: Call) -> tuple[UniqueIndex, dict[str, Any]] | None:
    """The first key two stored documents share in a unique index the call creates."""
    for spec in call.index_specs:
        if not spec.get("unique"):
            continue
        index = UniqueIndex.of(spec["name"], spec)
        seen: set[str] = set()
        for document in call.store.find(index.partial or {}):
            if index.holds(document):
                key = index.key(document)
                if _shell(key) in seen:
                    return index, key
                seen.add(_shell(key))
    return None


def _matches(call: Call, document: Mapping[str, Any], query: Mapping[str, Any] | None) -> bool:
    if query is None:
        return True
    scratch: Any = mongomock.MongoClient(tz_aware=call.store.codec_options.tz_aware)["scratch"]["match"]
    scratch.insert_one(copy.deepcopy(dict(document)))
    return scratch.find_one(query) is not None


def _duplicate(call: Call, index: UniqueIndex, key: dict[str, Any]) -> Breach:
    message = (
        f"E11000 duplicate key error collection: {call.store.full_name} index: {index.name} "
        f"dup key: {_shell(key)}"
    )
    return Breach(message, {"keyPattern": index.pattern, "keyValue": key})


def _shell(value: Any) -> str:
    """A value as MongoDB's messages print it: { number: "INV-0001", seq: null }."""
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k}: {_shell(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, list | tuple):
        return "[ " + ", ".join(_shell(item) for item in value) + " ]" if value else "[]"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, datetime):
        return f"new Date({int(value.timestamp() * 1000)})"
    return str(value)
