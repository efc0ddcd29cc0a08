"""The base of every owned document and the one way to load one by id."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Literal, Protocol, Self, TypeVar

from beanie import Document, PydanticObjectId
from beanie.odm.utils.encoder import Encoder
from bson import ObjectId
from pydantic import BaseModel, Field, model_validator
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.core.clock import utc_now
from app.core.errors import AppError, InUse, InvalidReference, NotFound
from app.core.identifiers import OBJECT_ID_PATTERN
from app.core.retry import compare_and_set
from app.db import versions
from app.db.actors import Actor, acting
from app.db.outbox import OUTBOX, PendingEvent, pending, publish, with_event, without_event
from app.db.recovery import INSERT_EVENT, RecoveryPass, waits_on
from app.db.versions import ANY, Expected


class StoredView(Protocol):
    """A response struct read straight from the driver's documents (the lean read path): `STORED` is the
    projection of the stored fields it needs, `from_raw` builds it from a document so projected. It must give
    exactly what `from_document` gives from the model of the same document (tests compare the two)."""

    STORED: ClassVar[dict[str, Literal[1]]]

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Self: ...


def stored_fields(*names: str) -> dict[str, Literal[1]]:
    """A projection of `names` (plus `_id`, which MongoDB always returns) and `version`, for a StoredView."""
    return dict.fromkeys((*names, "version"), 1)


_OBJECT_ID = re.compile(OBJECT_ID_PATTERN)


class StoredAddress(BaseModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class TimestampedDocument(Document):
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    # Bumped by every write the API shows (db/versions.py); a document stored before it existed reads 0.
    version: int = 0

    @model_validator(mode="before")
    @classmethod
    def _created_and_updated_together(cls, data: Any) -> Any:
        """A new document's created_at and updated_at are the same instant, not two clock reads."""
        if isinstance(data, dict) and "created_at" not in data:
            now = utc_now()
            data = {**data, "created_at": now, "updated_at": data.get("updated_at", now)}
        return data


class OwnedDocument(TimestampedDocument):
    owner_id: PydanticObjectId
    # Who created it (db/actors.py); None on documents stored before it was recorded. Stored only (API.md
    # section 19 "records"); a response shows it where the contract lists it (invoices).
    created_by: Actor | None = None
    # Pending events, written in the same atomic update as the change they describe (db/outbox.py).
    outbox: list[PendingEvent] = Field(default_factory=list)
    # The tombstone of a delete: set with the `*.deleted` event in one write; the relay removes the document
    # once the event is out. Every owned query skips it (owned_filter). Never in responses.
    removed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _created_by_the_actor(cls, data: Any) -> Any:
        """A new document (no created_at yet) records the actor of the operation that makes it."""
        if isinstance(data, dict) and "created_at" not in data and "created_by" not in data:
            data = {**data, "created_by": acting()}
        return data


class ReferencedDocument(OwnedDocument):
    """A document others name by id (clients, projects). `deleting` is the mark a delete sets (with the
    moment, `deleting_at`) before it checks for references; a document carrying it is no longer a valid
    reference. A mark whose request died is cleared by the worker's recovery (clear_stale_marks). Never in
    responses."""

    deleting: bool = False
    deleting_at: datetime | None = None


# Clears a delete's mark (the delete was refused, or its request died).
UNMARK = {"deleting": "", "deleting_at": ""}
# Every referenced type carries it, so recovery finds marks left behind without a scan (sparse: a cleared
# mark is unset, so the index holds only documents being deleted).
DELETING_INDEX = IndexModel([("deleting_at", ASCENDING)], name="deleting_at", sparse=True)


D = TypeVar("D", bound=OwnedDocument)
V = TypeVar("V", bound=StoredView)
# A user's id as Beanie types it (Document.id is Optional until inserted).
OwnerId = ObjectId | None

_ENCODER = Encoder()


def to_bson(value: Any) -> Any:
    """Values for raw driver calls, encoded as Beanie encodes documents (Decimal -> Decimal128,
    date -> datetime at midnight UTC, models -> dicts)."""
    return _ENCODER.encode(value)


def parse_object_id(value: str) -> ObjectId | None:
    return ObjectId(value) if isinstance(value, str) and _OBJECT_ID.match(value) else None


# Not removed by a delete whose tombstone is still waiting for its event to be relayed. `$ne` matches a
# document stored before tombstones existed (no `removed` at all), which `removed: false` would not; to
# MongoDB it is a range ([MinKey, true) and (true, MaxKey]), poorly selective alone, but never alone here:
# every list's sort index ends with `removed` (db/indexes.sort_index), so the owner's equality bounds the
# scan, the sort comes from the index, and a count reads index keys only. (Leaving it out of counts, as
# tombstones are short-lived, would count a deleted item until its event left.)
PRESENT: dict[str, Any] = {"removed": {"$ne": True}}


def owned_filter(owner_id: OwnerId, *also: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """The one way a query names its owner: every filter of an owned collection starts here.
    `also` carries conditions whose keys are not Python names ("payments.paid_on", "$or")."""
    query: dict[str, Any] = {"owner_id": owner_id, **PRESENT}
    for more in also:
        query.update(more)
    query.update(fields)
    return query


# A rule on the resource itself, checked right after it is found and before If-Match (API.md section 19: a
# member edits only their own time entries): the error it names (403), or None.
Permits = Callable[[D], AppError | None]


async def get_owned(
    model: type[D], id_: str, owner_id: OwnerId, expected: Expected = ANY, permits: Permits[D] | None = None
) -> D:
    """The caller's document, or 404 whether it is missing, malformed or someone else's; then what
    `permits` refuses (403); 412 (before any state rule) when it is not at a version `expected` names."""
    oid = parse_object_id(id_)
    document = await model.find_one(owned_filter(owner_id, _id=oid)) if oid else None
    if document is None:
        raise _not_owned(model, id_, oid)
    refused = permits(document) if permits is not None else None
    if refused is not None:
        raise refused
    expected.check(document.version)
    return document


async def get_owned_view(model: type[OwnedDocument], id_: str, owner_id: OwnerId, view: type[V]) -> V:
    """get_owned() read without the model (the lean read path): the same filter and 404, the driver's
    document projected to `view.STORED` and built straight into `view`."""
    oid = parse_object_id(id_)
    collection = model.get_motor_collection()
    raw = await collection.find_one(owned_filter(owner_id, _id=oid), view.STORED) if oid else None
    if raw is None:
        raise _not_owned(model, id_, oid)
    return view.from_raw(raw)


def _not_owned(model: type[Document], id_: str, oid: ObjectId | None) -> NotFound:
    return NotFound(f"No {model.__name__.lower()} with id {id_!r}" if oid else "No such resource")


# A referenced document is live while no delete has tombstoned it ($ne matches a missing field too).
LIVE: dict[str, Any] = {"deleting": {"$ne": True}}


def _live(model: type[Document]) -> dict[str, Any]:
    return LIVE if issubclass(model, ReferencedDocument) else {}


async def get_referenced(model: type[D], id_: str, owner_id: OwnerId, field: str) -> D:
    """Like get_owned, for an id named in a request body: a miss (or one being deleted) is 400
    invalid_reference."""
    oid = parse_object_id(id_)
    document = await model.find_one(owned_filter(owner_id, _live(model), _id=oid)) if oid else None
    if document is None:
        raise InvalidReference(f"{field} {id_!r} names nothing you own")
    return document


async def delete_owned_where(
    model: type[D],
    id_: str,
    owner_id: OwnerId,
    where: Mapping[str, Any],
    refuse: Callable[[D], AppError | None],
    *,
    before_publish: Callable[[D], Awaitable[None]] | None = None,
    expected: Expected = ANY,
    permits: Permits[D] | None = None,
) -> D:
    """Delete the caller's document if it matches `where` (with `permits`' condition, if any): one
    find_one_and_update sets the tombstone and appends the `*.deleted` event (remove_owned); returns the
    document as it was last. On a miss, re-read to tell why: 404 if it is gone, what `permits` refuses (403,
    before 412), `refuse(document)` if that names the rule it breaks (409), else it changed
    meanwhile and the delete is tried again (core/retry). Then `before_publish(document)` runs (what the
    delete must finish while the tombstone still marks it: its recovery finds it by the pending event), and
    the event is published (it leaves, then the tombstone goes; the worker's recovery finishes both if this
    process dies first)."""
    oid = parse_object_id(id_)

    async def attempt() -> D | None:
        if oid is not None:
            removed = await _tombstone(model, oid, owner_id, where, expected)
            if removed is not None:
                return removed
        error = refuse(await get_owned(model, id_, owner_id, expected, permits))
        if error is not None:
            raise error
        return None

    what = re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()  # TimeEntry -> "time entry"
    removed = await compare_and_set(attempt, f"The {what} kept changing while being deleted; try again")
    if before_publish is not None:
        await before_publish(removed)
    await publish(removed)
    return removed


async def _tombstone(
    model: type[D], oid: ObjectId, owner_id: OwnerId, where: Mapping[str, Any], expected: Expected
) -> D | None:
    """Mark the document removed with its `*.deleted` event, in one write guarded by `expected`."""
    query = expected.guard(owned_filter(owner_id, where, _id=oid))
    event = pending(f"{event_prefix(model)}.deleted")
    raw = await model.get_motor_collection().find_one_and_update(
        to_bson(query),
        to_bson(with_event({"$set": {"removed": True}}, event)),
        return_document=ReturnDocument.AFTER,
    )
    if raw is None:
        return None
    return model.model_validate(raw)


async def update_owned(
    model: type[D],
    id_: str | ObjectId | None,
    owner_id: OwnerId,
    fields: Mapping[str, Any],
    *,
    where: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
    expected: Expected = ANY,
) -> D | None:
    """One atomic `$set` (plus `extra` operators, plus the version bump) on the caller's document, filtered
    by `where` too, and by the `expected` versions (a miss because the version moved is then 412).
    With `event` (db/outbox.pending), the same write appends that pending event to the document's outbox
    (publish it once the operation stands).

    Returns the updated document, or None when nothing matched (missing, someone else's, or `where` failed).
    """
    oid = id_ if isinstance(id_, ObjectId) else parse_object_id(id_) if id_ else None
    if oid is None:
        return None
    operation = versions.bump({"$set": {**fields, "updated_at": utc_now()}, **(extra or {})})
    if event is not None:
        operation = with_event(operation, event)
    raw = await model.get_motor_collection().find_one_and_update(
        to_bson(expected.guard(owned_filter(owner_id, where or {}, _id=oid))),
        to_bson(operation),
        return_document=ReturnDocument.AFTER,
    )
    if raw is None:
        await expected.explain_miss(model.get_motor_collection(), owned_filter(owner_id, _id=oid))
        return None
    return model.model_validate(raw)


async def ensure_unreferenced(
    what: str, oid: ObjectId | None, owner_id: OwnerId, references: list[tuple[type[Document], str]]
) -> None:
    """409 in_use when any of `references` (model, field) still points at `oid`."""
    for model, field in references:
        if await model.find_one(owned_filter(owner_id, {field: oid})) is not None:
            raise InUse(
                f"This {what} is still referenced by {model.Settings.name}; delete or reassign those first"
            )


# ---------------------------------------------------------------- deleting what others may name
#
# Single-document atomic operations only. A delete tombstones the parent, then checks for references; a
# write that names a parent writes first, then re-checks the parent. Whatever the interleaving, one of the two
# sees the other: the delete finds the child (409 in_use), or the writer finds the tombstone or the parent
# gone (400 invalid_reference, and it undoes its write). No child is left naming a deleted parent.

# (parent model, parent id, the child's field naming it), e.g. (Client, client.id, "client_id").
Parent = tuple[type[ReferencedDocument], ObjectId | None, str]


async def delete_unreferenced(
    model: type[ReferencedDocument],
    id_: str,
    owner_id: OwnerId,
    references: list[tuple[type[Document], str]],
    expected: Expected = ANY,
) -> None:
    """Delete the caller's document unless any of `references` (model, field) names it (409 in_use)."""
    what = model.__name__.lower()
    oid = parse_object_id(id_)
    collection = model.get_motor_collection()
    marked = None
    if oid is not None:
        # No LIVE filter: a delete that died after its tombstone must not leave the document stuck, so a
        # retried delete marks it again and finishes (or clears the mark with 409 in_use). The tombstone is an
        # internal mark: no version bump; `expected` guards it (a stale If-Match deletes nothing).
        mine = owned_filter(owner_id, _id=oid)
        marked = await collection.find_one_and_update(
            expected.guard(mine), {"$set": {"deleting": True, "deleting_at": utc_now()}}
        )
        if marked is None:
            await expected.explain_miss(collection, mine)
    if marked is None or oid is None:
        raise NotFound(f"No {what} with id {id_!r}" if oid else "No such resource")
    try:
        await ensure_unreferenced(what, oid, owner_id, references)
    except BaseException:
        await collection.update_one(owned_filter(owner_id, _id=oid), {"$unset": UNMARK})
        raise
    await remove_owned(model, oid, owner_id)


async def remove_owned(model: type[D], oid: ObjectId, owner_id: OwnerId) -> D | None:
    """Delete the caller's document: the tombstone and its `*.deleted` event in one write, then publish (the
    relay copies the event out, then removes the document; the worker's recovery finishes both if this
    process dies first). Returns the document as it was last, or None."""
    removed = await _tombstone(model, oid, owner_id, {}, ANY)  # the mark met any precondition
    if removed is not None:
        await publish(removed)
    return removed


def event_prefix(model: type[Document]) -> str:
    """The event-type prefix of a document type: Client -> "client", TimeEntry -> "time_entry"."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()


async def confirm_parents(owner_id: OwnerId, parents: list[Parent]) -> None:
    """400 invalid_reference unless every parent still exists and is not being deleted (after the write)."""
    for model, oid, field in parents:
        if oid is not None and await model.find_one(owned_filter(owner_id, LIVE, _id=oid)) is None:
            raise InvalidReference(f"{field} {str(oid)!r} was deleted meanwhile")


async def insert_once(document: D) -> D:
    """Insert `document`; when its id is taken by the caller's own document already, that one: a retried
    request whose earlier run committed (its id is the request's `new_id`, app/http/idempotency.py). Any
    other duplicate key is raised."""
    try:
        await document.insert()
    except DuplicateKeyError:
        earlier = await created_before(type(document), document.id, document.owner_id)
        if earlier is None:
            raise
        return earlier
    return document


async def created_before(model: type[D], new_id: ObjectId | None, owner_id: OwnerId) -> D | None:
    """The caller's document with the id a create is about to use: what an earlier run of this request made
    (read before work a retry must not repeat), or None; None without a read when the request has no
    Idempotency-Key (no `new_id`: nothing ran before)."""
    if new_id is None:
        return None
    found = await model.get_motor_collection().find_one({"_id": new_id, "owner_id": owner_id})
    return None if found is None else model.model_validate(found)


async def insert_with_event(document: D, event_type: str | None = None) -> D:
    """Insert a document carrying its `*.created` (or `event_type`) event in its outbox, and publish it.
    Returns the document that stands (an earlier run's, on a retry: insert_once)."""
    document = await _insert_pending(document, event_type)
    await publish(document)
    return document


async def _insert_pending(document: D, event_type: str | None) -> D:
    event = pending(event_type or f"{event_prefix(type(document))}.created")
    document.outbox = [PendingEvent.model_validate(event)]
    return await insert_once(document)


async def insert_confirmed(
    document: D,
    parents: list[Parent],
    event_type: str | None = None,
    *,
    confirm: Callable[[], Awaitable[None]] | None = None,
) -> D:
    """Insert a document naming `parents` (with its created event pending), then confirm them (and run
    `confirm`, for any other condition the insert relied on); if one fails, delete the document again,
    event and all, and raise; else publish the event. Returns the document that stands (an earlier run's,
    on a retry: insert_once; its parents are confirmed again, as its own run would have)."""
    inserted = await _insert_pending(document, event_type)
    try:
        await confirm_parents(inserted.owner_id, parents)
        if confirm is not None:
            await confirm()
    except BaseException:
        # Only this run's own insert is undone: an earlier run's document (a retry met it) is left to the
        # worker's recovery, which confirms its parents or deletes it with its unpublished event.
        if inserted is document:
            await document.get_motor_collection().delete_one({"_id": document.id})
        raise
    document = inserted
    await publish(document)
    return document


# ---------------------------------------------------------------- recovery (the worker runs these)


async def clear_stale_marks(
    model: type[ReferencedDocument], cutoff: datetime, recovery: RecoveryPass | None = None
) -> int:
    """Clear the delete marks older than `cutoff` whose request died before it deleted the document or
    cleared its mark: undone, the document is a valid reference again (its delete may simply be retried).
    A mark followed by the tombstone is the relay's to finish. Each document on its own (db/recovery.py).
    Returns how many were cleared."""
    recovery = recovery or RecoveryPass()
    collection = model.get_motor_collection()
    stale = {"deleting_at": {"$lte": cutoff}, **PRESENT}
    cleared = 0
    async for raw in collection.find(stale, {"_id": 1}):
        clear = partial(clear_stale_mark, model, raw["_id"], cutoff)
        cleared += await recovery.item("clear the delete mark of", collection.name, raw["_id"], clear) or 0
    return cleared


async def clear_stale_mark(model: type[ReferencedDocument], oid: ObjectId, cutoff: datetime) -> int:
    """Clear one document's delete mark if it is still older than `cutoff` (1 if it was cleared)."""
    stale = {"_id": oid, "deleting_at": {"$lte": cutoff}, **PRESENT}
    result = await model.get_motor_collection().update_one(stale, {"$unset": UNMARK})
    return int(result.modified_count)


async def confirm_inserted(
    model: type[OwnedDocument],
    parents: Mapping[str, type[Document]],
    cutoff: datetime,
    recovery: RecoveryPass | None = None,
) -> int:
    """Finish insert-then-confirm for documents whose request died in between: a document whose insert
    event (`*.created`/`*.started`, older than `cutoff`) is still pending has its parents (field -> model)
    confirmed now; if one went away, the document is deleted with its unpublished event (the insert never
    stood). Each document on its own (db/recovery.py: one whose parent failed earlier in the pass waits
    with it). Returns how many were deleted."""
    recovery = recovery or RecoveryPass()
    inserted = {"type": {"$regex": INSERT_EVENT.pattern}, "at": {"$lte": cutoff}}
    collection = model.get_motor_collection()
    deleted = 0
    async for raw in collection.find({OUTBOX: {"$elemMatch": inserted}, **PRESENT}):
        confirm = partial(confirm_insert, model, parents, raw)
        what, waiting = "confirm the parents of", waits_on(raw)
        deleted += await recovery.item(what, collection.name, raw["_id"], confirm, waits_on=waiting) or 0
    return deleted


async def confirm_insert(
    model: type[OwnedDocument], parents: Mapping[str, type[Document]], raw: Mapping[str, Any]
) -> int:
    """Confirm the parents of one inserted document (as read raw); delete it, with its unpublished event, if
    one went away (1 if it was deleted)."""
    named: list[Parent] = [(parents[f], raw.get(f), f) for f in parents if f in model.model_fields]
    try:
        await confirm_parents(raw["owner_id"], named)
    except InvalidReference:
        event_ids = [entry["id"] for entry in raw[OUTBOX]]
        collection = model.get_motor_collection()
        result = await collection.delete_one({"_id": raw["_id"], f"{OUTBOX}.id": {"$all": event_ids}})
        return int(result.deleted_count)
    return 0


async def confirm_moved(
    current: D,
    fields: Mapping[str, Any],
    parents: Mapping[str, type[ReferencedDocument]],
    *,
    restore: tuple[str, ...] = (),
    extra: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
) -> None:
    """After `fields` were written over `current` (the document as read before): confirm each parent field
    of `parents` (field -> model) that now names another document. If one went away, put back `current`'s
    values of the written parent fields and of `restore`, in one update made only while the document still
    names the new parents (`extra` as in update_owned), and raise 400 invalid_reference."""
    moved: list[Parent] = [
        (model, fields[field], field)
        for field, model in parents.items()
        if fields.get(field) is not None and fields[field] != getattr(current, field)
    ]
    if not moved:
        return
    try:
        await confirm_parents(current.owner_id, moved)
    except InvalidReference:
        written = [field for field in (*parents, *restore) if field in fields]
        previous = {field: getattr(current, field) for field in written}
        still = {field: fields[field] for field in parents if field in fields}
        undo = without_event(extra or {}, event["id"]) if event is not None else extra
        await update_owned(type(current), current.id, current.owner_id, previous, where=still, extra=undo)
        raise
