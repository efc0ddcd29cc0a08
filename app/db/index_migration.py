"""`python -m app migrate`'s reconciliation: make the server's indexes what the code declares without ever
leaving a declared uniqueness unenforced, so that old processes still serving meanwhile keep every constraint,
and so that a run killed at any point converges when it is run again.

It goes one server operation at a time, each chosen from what the server lists right then (a rerun picks up
where a killed run stopped). For each declared index (families and signatures: app/db/indexes.py):

1. Met (a version in its family has the declared shape): drop the family's other versions, one at a time.
2. A version differs only in what collMod changes in place (the expireAfterSeconds of a TTL index, hidden):
   collMod it.
3. Another index has the declared signature, so MongoDB would refuse the new version beside it: an old
   version (a TTL added or removed) or an undeclared index (an old auto-generated name). Without uniqueness
   at stake it is dropped first (queries it served are slower until the build ends). With uniqueness at
   stake a stand-in is built first (the same keys, unique, a filter every document matches: the same
   constraint under another signature), then the holder is dropped, the new version built, and step 1 drops
   the stand-in. A sparse or filtered unique index has no stand-in: it fails, left as it is.
4. Otherwise build the new version beside the old (under the plain name if that is free, else
   `name~hash`), and step 1 drops the old one.

Builds run without the operation timeout (app/db/index_builds.py). A build the server refuses (stored
documents that break a new unique index) fails that index alone, its old version kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from beanie import Document
from pymongo.errors import DuplicateKeyError, OperationFailure

from app.db import index_builds
from app.db.indexes import (
    DeclaredIndex,
    Reconciliation,
    Spec,
    by_collection,
    current,
    declared_indexes,
    existing,
    family,
    shape,
    signature,
    stand_in,
    unknown,
    versioned_name,
)

log = logging.getLogger("orbix.migrate")

DOING = {"build": "building (as long as the collection is large)", "drop": "dropping", "modify": "collMod"}
# Any reconciliation takes at most four operations (stand-in, drop, build, drop); more means a loop.
MAX_STEPS = 8


@dataclass(frozen=True)
class Step:
    action: str  # "build", "drop" or "modify"
    name: str
    spec: Spec | None = None  # the index to build, or the collMod changes


class Refused(Exception):
    """This declared index cannot be reached safely; it is left as it is."""


def next_step(index: DeclaredIndex, found: Mapping[str, Spec], declared: list[DeclaredIndex]) -> Step | None:
    """The one operation that brings `index` closer to its declaration, or None once it is met and alone."""
    members = family(index.name, found)
    kept = current(index, found)
    if kept is not None:
        extra = [name for name in members if name != kept]
        return Step("drop", extra[0]) if extra else None
    for name, spec in members.items():
        changes = _modification(spec, index.spec)
        if changes:
            return Step("modify", name, changes)
    holders = [name for name, spec in found.items() if signature(spec) == signature(index.spec)]
    if not holders:
        plain = index.name not in found
        return _build(
            {**index.spec, "name": index.name if plain else versioned_name(index.name, index.spec)}, found
        )
    holder = holders[0]
    owner = next(
        (other for other in declared if other is not index and holder in family(other.name, found)), None
    )
    if owner is not None:
        raise Refused(
            f"{holder} ({owner.name}'s current version) has its keys and options; run migrate again"
        )
    if not index.unique:
        return Step("drop", holder)
    substitute = stand_in(index)
    if substitute is None:
        raise Refused(
            f"{holder} enforces the same uniqueness and MongoDB cannot build the new definition beside it; "
            f"a sparse or filtered unique index has no stand-in, so {holder} is kept: drop it yourself "
            "while nothing writes to the collection, then run migrate again"
        )
    if not any(shape(spec) == shape(substitute) for spec in found.values()):
        return _build(substitute, found)
    return Step("drop", holder)


def _modification(spec: Spec, declared: Spec) -> dict[str, Any] | None:
    """The collMod changes that turn the server index `spec` into the declared one, or None if none can."""
    if signature(spec) != signature(declared):
        return None
    if (spec.get("expireAfterSeconds") is None) != (declared.get("expireAfterSeconds") is None):
        return None  # a TTL added or removed: collMod changes the value of a TTL index only
    changes: dict[str, Any] = {}
    if spec.get("expireAfterSeconds") != declared.get("expireAfterSeconds"):
        changes["expireAfterSeconds"] = declared["expireAfterSeconds"]
    if bool(spec.get("hidden")) != bool(declared.get("hidden")):
        changes["hidden"] = bool(declared.get("hidden"))
    return changes if changes and shape({**spec, **changes}) == shape(declared) else None


def _build(spec: Spec, found: Mapping[str, Spec]) -> Step:
    name = str(spec["name"])
    if name in found:
        raise Refused(f"the name {name} is taken by another index")
    return Step("build", name, spec)


async def migrate(database: Any, models: Iterable[type[Document]]) -> Reconciliation:
    """Reconcile every declared index (see the module's docstring); report the undeclared ones."""
    result = Reconciliation()
    for collection, indexes in by_collection(declared_indexes(models)).items():
        for index in indexes:
            await _reconcile(database, index, indexes, result)
        result.unknown.extend(unknown(collection, await existing(database, collection), indexes))
    return result


async def _reconcile(
    database: Any, index: DeclaredIndex, declared: list[DeclaredIndex], result: Reconciliation
) -> None:
    found = await existing(database, index.collection)
    new = not family(index.name, found) and all(
        signature(spec) != signature(index.spec) for spec in found.values()
    )
    actions = []
    for _ in range(MAX_STEPS):
        try:
            step = next_step(index, found, declared)
            if step is None:
                break
            await _apply(database, index, step)
        except Refused as refusal:
            result.failed.append(f"{index.qualified}: {refusal}")
            return
        except OperationFailure as exc:
            result.failed.append(f"{index.qualified}: {_refusal(exc)}")
            return
        actions.append(step.action)
        found = await existing(database, index.collection)
    else:
        result.failed.append(f"{index.qualified}: still not as declared after {MAX_STEPS} operations")
        return
    if not actions:
        return
    if set(actions) == {"modify"}:
        result.modified.append(index.qualified)
    elif new and set(actions) == {"build"}:
        result.created.append(index.qualified)
    else:
        result.replaced.append(index.qualified)


async def _apply(database: Any, index: DeclaredIndex, step: Step) -> None:
    where = f"{index.collection}.{step.name}"
    log.info("index %s: %s", where, DOING[step.action], extra={"index": where, "step": step.action})
    handle = database[index.collection]
    if step.action == "build":
        assert step.spec is not None
        await index_builds.build(handle, step.spec)
    elif step.action == "drop":
        await index_builds.drop(handle, step.name)
    else:
        assert step.spec is not None
        await index_builds.modify(database, index.collection, step.name, step.spec)


def _refusal(exc: OperationFailure) -> str:
    if isinstance(exc, DuplicateKeyError) or exc.code == 11000:
        return (
            "stored documents break the new uniqueness (E11000); the old version is kept: remove the "
            "duplicates, then run migrate again"
        )
    code = " ".join(str(part) for part in (exc.code, (exc.details or {}).get("codeName")) if part)
    return f"the server refused it (code {code}); the old version is kept"
