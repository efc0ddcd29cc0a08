"""Declared indexes against the server's: every start creates the missing ones; `python -m app migrate`
also replaces the changed ones.

Every index is declared with an explicit name, so a definition that changes between two deploys is found
by its name and replaced, instead of failing the start with MongoDB's error 85/86 (same name or same keys,
other options). Indexes that nothing declares are reported and left alone: they may be an operator's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from beanie import Document
from pymongo import ASCENDING, IndexModel
from pymongo.errors import OperationFailure

log = logging.getLogger("orbix.indexes")

# The options whose change makes an index another index (what createIndexes would refuse to reuse).
COMPARED_OPTIONS = ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds", "hidden")
_ID_INDEX = "_id_"


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
    def name(self) -> str:
        return str(self.model.document["name"])

    @property
    def qualified(self) -> str:
        return f"{self.collection}.{self.name}"


@dataclass
class Reconciliation:
    """What one pass did, by `collection.index` name."""

    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    outdated: list[str] = field(default_factory=list)  # changed, left for `migrate` (a start never drops)


def declared_indexes(models: Iterable[type[Document]]) -> list[DeclaredIndex]:
    declared = []
    for model in models:
        collection = model.Settings.name
        for index in getattr(model.Settings, "indexes", []):
            if not isinstance(index, IndexModel) or index.document["name"] == _generated_name(index):
                raise TypeError(f"{model.__name__}: every index is an IndexModel with an explicit name")
            declared.append(DeclaredIndex(collection, index))
    return declared


def _generated_name(index: IndexModel) -> str:
    """The name pymongo gives an index created without one (`owner_id_1_sku_1`)."""
    return "_".join(f"{key}_{direction}" for key, direction in index.document["key"].items())


def shape(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two index specs the same index: the ordered keys and the compared options
    (a false or absent option is the same as the default)."""
    keys = tuple((name, _direction(value)) for name, value in spec["key"].items())
    options = tuple(
        (option, spec[option]) for option in COMPARED_OPTIONS if spec.get(option) not in (None, False)
    )
    return keys, options


def _direction(value: Any) -> Any:
    return int(value) if isinstance(value, int | float) else value  # old servers report 1.0


async def _existing(database: Any, collection: str) -> dict[str, Mapping[str, Any]]:
    """The server's indexes by name (a collection that does not exist yet has none)."""
    return {spec["name"]: spec async for spec in database[collection].list_indexes()}


def _by_collection(declared: list[DeclaredIndex]) -> dict[str, list[DeclaredIndex]]:
    grouped: dict[str, list[DeclaredIndex]] = {}
    for index in declared:
        grouped.setdefault(index.collection, []).append(index)
    return grouped


async def create_missing(database: Any, models: Iterable[type[Document]]) -> Reconciliation:
    """At every start: create what is declared but absent. Never drops: a changed index is logged (run
    `python -m app migrate`), and a create the server refuses (an old index holds the keys) is logged too."""
    result = Reconciliation()
    for collection, indexes in _by_collection(declared_indexes(models)).items():
        existing = await _existing(database, collection)
        for index in indexes:
            current = existing.get(index.name)
            if current is not None:
                if shape(current) != shape(index.model.document):
                    result.outdated.append(index.qualified)
                continue
            try:
                await database[collection].create_indexes([index.model])
            except OperationFailure as exc:  # 85/86: another index holds these keys or this name
                log.warning("index %s not created (%s)", index.qualified, exc.code)
                result.outdated.append(index.qualified)
            else:
                result.created.append(index.qualified)
        result.unknown.extend(_unknown(collection, existing, indexes))
    if result.outdated:
        log.warning(
            "indexes differ from their declaration: %s; run `python -m app migrate`",
            ", ".join(result.outdated),
        )
    return result


async def migrate(database: Any, models: Iterable[type[Document]]) -> Reconciliation:
    """Make the server's indexes what the code declares: create the missing, drop and recreate the changed
    (by name), and replace an undeclared index holding exactly a declared index's keys (the same index
    under an older name, which MongoDB would not let both exist). Report the other undeclared ones."""
    result = Reconciliation()
    for collection, indexes in _by_collection(declared_indexes(models)).items():
        handle = database[collection]
        existing = await _existing(database, collection)
        declared_names = {index.name for index in indexes}
        for index in indexes:
            wanted = shape(index.model.document)
            current = existing.get(index.name)
            if current is not None and shape(current) == wanted:
                continue
            stale = [
                name
                for name, spec in existing.items()
                if name not in declared_names and name != _ID_INDEX and shape(spec)[0] == wanted[0]
            ]
            for name in ([index.name] if current is not None else []) + stale:
                await handle.drop_index(name)
                existing.pop(name)
            await handle.create_indexes([index.model])
            (result.replaced if current is not None or stale else result.created).append(index.qualified)
        result.unknown.extend(_unknown(collection, existing, indexes))
    return result


def _unknown(collection: str, existing: Mapping[str, Any], indexes: list[DeclaredIndex]) -> list[str]:
    names = {index.name for index in indexes}
    return [f"{collection}.{name}" for name in existing if name != _ID_INDEX and name not in names]
