"""Declared indexes against the server's: which server index is which declaration, what every start does
(create the missing ones, never drop), and whether each declared uniqueness is in force.
`python -m app migrate` (app/db/index_migration.py) also replaces the changed ones.

Every index is declared with an explicit name, its identity across deploys. MongoDB cannot rename an index,
so a changed declaration is built beside its old version before that one is dropped, under a versioned name
`<name>~<hash of its shape>` when the plain name is still taken (the change after builds under the plain name
again). The server indexes named `<name>` or `<name>~…` are the declaration's *family*; the declaration is met
when one of them has its shape. An index in no family is reported and left alone: it may be an operator's.

MongoDB 7 tells two indexes on one key pattern apart by their *signature*: the keys, `unique`, `sparse` and
`partialFilterExpression` (and a collation, which no declaration uses). Two indexes with one signature cannot
coexist, whatever their names (errors 85/86); indexes whose signatures differ can.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from beanie import Document
from pymongo import ASCENDING, IndexModel
from pymongo.errors import OperationFailure

from app.db import index_builds

log = logging.getLogger("orbix.indexes")

# The options whose change makes an index another index; a declaration may use these and no others.
COMPARED_OPTIONS = ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds", "hidden")
SIGNATURE_OPTIONS = ("unique", "sparse", "partialFilterExpression")
VERSION_MARK = "~"
ID_INDEX = "_id_"
# A filter every document matches (each has an _id): a unique index with it enforces what the same index
# without a filter does, yet has another signature, so it can stand in while that one is rebuilt.
EVERY_DOCUMENT = {"_id": {"$exists": True}}

Spec = Mapping[str, Any]


def owner_index(name: str, *fields: str, unique: bool = False) -> IndexModel:
    """(owner_id, *fields) ascending, under an explicit `name` (its identity across deploys)."""
    keys = [("owner_id", ASCENDING), *((field, ASCENDING) for field in fields)]
    return IndexModel(keys, name=name, unique=unique) if unique else IndexModel(keys, name=name)


def sort_index(name: str, *keys: str) -> IndexModel:
    """(owner_id, *keys, _id, removed): the last of `keys` is a sortable field, those before it the list's
    scope (an invoice's e-mails: invoice_id). It serves `sort=field` and `sort=-field` (pagination adds _id in
    the same direction), so no list ever sorts in memory.

    `removed` comes last because every list filters it with `$ne` (db/repository.PRESENT), a range to
    MongoDB: after the equality and the sort (ESR), so the sort still comes from the index, and in the index,
    so a page skips tombstones on the keys and the list's count reads keys only (a covered count)."""
    return owner_index(name, *keys, "_id", "removed")


def sort_indexes(*fields: str) -> list[IndexModel]:
    """One sort_index per sortable stored field of an unscoped list, named `sort_<field>`."""
    return [sort_index(f"sort_{field}", field) for field in fields]


@dataclass(frozen=True)
class DeclaredIndex:
    collection: str
    model: IndexModel

    @property
    def spec(self) -> Spec:
        return self.model.document

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def qualified(self) -> str:
        return f"{self.collection}.{self.name}"

    @property
    def unique(self) -> bool:
        return bool(self.spec.get("unique"))


@dataclass
class Reconciliation:
    """What one pass did, by `collection.index` name."""

    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)  # changed in place by collMod
    unknown: list[str] = field(default_factory=list)
    outdated: list[str] = field(default_factory=list)  # changed, left for `migrate` (a start never drops)
    failed: list[str] = field(default_factory=list)  # "collection.index: why", left as it was


def declared_indexes(models: Iterable[type[Document]]) -> list[DeclaredIndex]:
    declared: list[DeclaredIndex] = []
    for model in models:
        collection = model.Settings.name
        for index in getattr(model.Settings, "indexes", []):
            if not isinstance(index, IndexModel) or index.document["name"] == _generated_name(index):
                raise TypeError(f"{model.__name__}: every index is an IndexModel with an explicit name")
            declared.append(DeclaredIndex(collection, index))
    for index in declared:
        _check(index, declared)
    return declared


def _check(index: DeclaredIndex, declared: list[DeclaredIndex]) -> None:
    if VERSION_MARK in index.name:
        raise TypeError(f"{index.qualified}: `{VERSION_MARK}` marks an index version, not part of a name")
    other = set(index.spec) - {"key", "name", *COMPARED_OPTIONS}
    if other:
        raise TypeError(f"{index.qualified}: options the reconciliation does not compare: {sorted(other)}")
    twins = [
        twin.name
        for twin in declared
        if twin.collection == index.collection
        and twin is not index
        and signature(twin.spec) == signature(index.spec)
    ]
    if twins:
        raise TypeError(f"{index.qualified}: MongoDB cannot hold it beside {twins[0]} (one signature)")


def _generated_name(index: IndexModel) -> str:
    """The name pymongo gives an index created without one (`owner_id_1_sku_1`)."""
    return "_".join(f"{key}_{direction}" for key, direction in index.document["key"].items())


def shape(spec: Spec) -> tuple[Any, ...]:
    """What makes two index specs the same index: the ordered keys and the compared options
    (a false or absent option is the same as the default)."""
    return _keys(spec), tuple(
        (option, _value(spec[option])) for option in COMPARED_OPTIONS if _set(spec, option)
    )


def signature(spec: Spec) -> tuple[Any, ...]:
    """What MongoDB 7 tells two indexes on the same keys apart by (see the module's docstring)."""
    return _keys(spec), tuple(
        (option, _value(spec[option])) for option in SIGNATURE_OPTIONS if _set(spec, option)
    )


def _set(spec: Spec, option: str) -> bool:
    value = spec.get(option)
    return value is not None and value is not False  # an expireAfterSeconds of 0 is set


def _keys(spec: Spec) -> tuple[tuple[str, Any], ...]:
    return tuple((name, _value(value)) for name, value in spec["key"].items())


def _value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return int(value)  # servers report 1.0 for 1, and expireAfterSeconds as a double or a long
    if isinstance(value, Mapping):
        return tuple((key, _value(item)) for key, item in value.items())
    return value


def versioned_name(name: str, spec: Spec) -> str:
    """The name under which a version of `name` with this shape is built while `name` itself is taken."""
    digest = hashlib.sha256(json.dumps(shape(spec), default=str).encode()).hexdigest()
    return f"{name}{VERSION_MARK}{digest[:8]}"


def family(name: str, existing: Mapping[str, Spec]) -> dict[str, Spec]:
    """The server indexes that are versions of the declared index `name`."""
    return {
        found: spec
        for found, spec in existing.items()
        if found == name or found.startswith(f"{name}{VERSION_MARK}")
    }


def current(index: DeclaredIndex, existing: Mapping[str, Spec]) -> str | None:
    """The name of the server index that meets the declaration (the plain name first), or None."""
    wanted = shape(index.spec)
    members = family(index.name, existing)
    matching = [name for name, spec in members.items() if shape(spec) == wanted]
    return index.name if index.name in matching else (matching[0] if matching else None)


def stand_in(index: DeclaredIndex) -> dict[str, Any] | None:
    """The index that holds a unique declaration's constraint while its old version, which has the same
    signature and so cannot stand beside the new one, is dropped and rebuilt: the same keys, unique, and a
    filter every document matches. None when the declaration is sparse or filtered already (MongoDB allows no
    partial filter beside `sparse`, and a second filter would change what is enforced)."""
    spec = index.spec
    if not index.unique or spec.get("sparse") or spec.get("partialFilterExpression"):
        return None
    substitute = {"key": dict(spec["key"]), "unique": True, "partialFilterExpression": EVERY_DOCUMENT}
    return {**substitute, "name": versioned_name(index.name, substitute)}


def enforces(spec: Spec, index: DeclaredIndex) -> bool:
    """Whether the server index `spec` enforces the declared uniqueness of `index` (a hidden index or one
    with another TTL still does)."""
    if signature(spec) == signature(index.spec):
        return True
    substitute = stand_in(index)
    return substitute is not None and shape(spec) == shape(substitute)


async def existing(database: Any, collection: str) -> dict[str, Spec]:
    """The server's indexes by name (a collection that does not exist yet has none)."""
    return {spec["name"]: spec async for spec in database[collection].list_indexes()}


def by_collection(declared: list[DeclaredIndex]) -> dict[str, list[DeclaredIndex]]:
    grouped: dict[str, list[DeclaredIndex]] = {}
    for index in declared:
        grouped.setdefault(index.collection, []).append(index)
    return grouped


def unknown(collection: str, existing: Mapping[str, Spec], indexes: list[DeclaredIndex]) -> list[str]:
    known: set[str] = {ID_INDEX}
    for index in indexes:
        known.update(family(index.name, existing))
    return [f"{collection}.{name}" for name in existing if name not in known]


async def create_missing(database: Any, models: Iterable[type[Document]]) -> Reconciliation:
    """At every start: build what is declared and has no version on the server yet. Never drops: a changed
    index, or one whose keys another index holds, is logged (run `python -m app migrate`)."""
    result = Reconciliation()
    for collection, indexes in by_collection(declared_indexes(models)).items():
        found = await existing(database, collection)
        for index in indexes:
            if current(index, found) is not None:
                continue
            held = [spec for spec in found.values() if signature(spec) == signature(index.spec)]
            if family(index.name, found) or held:
                result.outdated.append(index.qualified)
                continue
            try:
                await index_builds.build(database[collection], index.spec)
            except OperationFailure as exc:  # e.g. stored documents break a new unique index
                log.warning("index %s not created (%s)", index.qualified, exc.code)
                result.outdated.append(index.qualified)
            else:
                result.created.append(index.qualified)
        result.unknown.extend(unknown(collection, found, indexes))
    if result.outdated:
        log.warning(
            "indexes differ from their declaration: %s; run `python -m app migrate`",
            ", ".join(result.outdated),
        )
    return result


async def missing_constraints(database: Any, models: Iterable[type[Document]]) -> list[str]:
    """The declared unique indexes whose uniqueness no server index enforces, by `collection.index`."""
    missing: list[str] = []
    for collection, indexes in by_collection(declared_indexes(models)).items():
        unique = [index for index in indexes if index.unique]
        if not unique:
            continue
        found = (await existing(database, collection)).values()
        missing.extend(
            index.qualified for index in unique if not any(enforces(spec, index) for spec in found)
        )
    return missing
