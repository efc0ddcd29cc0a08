"""Time entries: manual entries and the one running timer per user per organisation.

Invariants, kept by atomic single-document writes:
- a running entry holds timer_slot "running"; the unique index (owner_id, user_id, timer_slot) allows one
  per user;
  a stopped or manual entry holds its own id there;
- a stopped entry has 0 < ended_at - started_at <= 24 h and duration_seconds = whole seconds between them;
- an entry with invoice_id set is locked: every write filters on invoice_id None;
- a `member` edits, stops and deletes only the entries whose user_id is theirs (403 once the entry is found,
  before If-Match and every state rule: API.md section 19); billing and above edit everyone's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from app.auth.models import Caller, Owner
from app.clients.models import Client
from app.core.clock import parse_rfc3339, to_utc_ms, utc_now
from app.core.errors import Forbidden, InvalidState, ValidationFailed
from app.core.money import to_cents
from app.core.retry import compare_and_set
from app.core.roles import Role
from app.db.outbox import pending, publish
from app.db.pagination import Page, PageParams, id_filters, paginate, sortable
from app.db.repository import (
    Parent,
    confirm_moved,
    delete_owned_where,
    get_owned,
    get_referenced,
    insert_confirmed,
    owned_filter,
    update_owned,
)
from app.db.versions import ANY, Expected
from app.http.schemas import provided_fields
from app.organizations.models import Books
from app.projects.models import Project
from app.projects.service import project_for_time
from app.time_entries.errors import AlreadyInvoiced, TimerRunning
from app.time_entries.models import RUNNING_SLOT, TimeEntry
from app.time_entries.rules import LIFECYCLE, MAX_ENTRY, check_instant, duration_seconds, span_error, status
from app.time_entries.schemas import (
    TimeEntryCreate,
    TimeEntryFilters,
    TimeEntryUpdate,
    TimerStart,
)

SORTS = sortable(
    TimeEntry,
    {"started_at": "started_at", "created_at": "created_at", "duration_seconds": "duration_seconds"},
)


def _cents(rate: Any) -> int | None:
    return to_cents(rate) if rate is not None else None


def _parents(project: Project) -> list[Parent]:
    """What an entry's insert confirms: its project. Its client needs no read of its own: a client is not
    deleted while a project names it, and the project (confirmed live after the insert) is not deleted while
    this entry names it (db/repository.py, deleting what others may name)."""
    return [(Project, project.id, "project_id")]


def _mine(caller: Caller) -> dict[str, Any]:
    """What an entry must match for `caller` to edit it: any for billing and above, else their own."""
    return {} if caller.role.allows(Role.BILLING) else {"user_id": caller.user_id}


def _editable_by(caller: Caller) -> Callable[[TimeEntry], Forbidden | None]:
    """The rule get_owned checks once the entry is found: a member's own entries only (403)."""
    mine = _mine(caller)

    def permits(entry: TimeEntry) -> Forbidden | None:
        if mine and entry.user_id != caller.user_id:
            return Forbidden("A member edits only their own time entries")
        return None

    return permits


def _locked(entry: TimeEntry) -> AlreadyInvoiced:
    return AlreadyInvoiced(f"Time entry {entry.id} is on invoice {entry.invoice_id}; it is locked")


async def list_entries(owner: Owner, params: PageParams, filters: TimeEntryFilters) -> Page[TimeEntry]:
    ids = id_filters(user_id=filters.user_id, project_id=filters.project_id, client_id=filters.client_id)
    query = owned_filter(owner.id, ids)
    window: dict[str, Any] = {}
    for name, operator, moment in (("from", "$gte", filters.started_from), ("to", "$lt", filters.started_to)):
        if moment is not None:
            try:
                parsed = parse_rfc3339(moment)
            except ValueError as exc:
                raise ValidationFailed.field(name, str(exc)) from None
            try:
                window[operator] = check_instant(parsed, name)
            except ValueError as exc:
                raise ValidationFailed.field(name, str(exc).partition(": ")[2]) from None
    if "$gte" in window and "$lt" in window and window["$lt"] <= window["$gte"]:
        raise ValidationFailed.field("to", "must be after from")
    if window:
        query["started_at"] = window
    if filters.billable is not None:
        query["billable"] = filters.billable
    if filters.invoiced is not None:
        query["invoice_id"] = {"$ne": None} if filters.invoiced else None
    if filters.running is not None:
        query["timer_slot"] = RUNNING_SLOT if filters.running else {"$ne": RUNNING_SLOT}
    return await paginate(TimeEntry, query, params, SORTS)


async def create_entry(
    owner: Caller, data: TimeEntryCreate, new_id: PydanticObjectId | None = None
) -> TimeEntry:
    project = await project_for_time(owner, data.project_id)
    oid = new_id or PydanticObjectId()  # known before insert: a stopped entry's timer_slot is its own id
    entry = TimeEntry(
        id=oid,
        owner_id=owner.id,
        user_id=owner.user_id,
        project_id=project.id,
        client_id=project.client_id,
        description=data.description,
        started_at=to_utc_ms(data.started_at),
        ended_at=to_utc_ms(data.ended_at),
        duration_seconds=duration_seconds(data.started_at, data.ended_at),
        billable=data.billable,
        hourly_rate_cents=_cents(data.hourly_rate),
        timer_slot=str(oid),
    )
    return await insert_confirmed(entry, _parents(project))


async def start_timer(owner: Caller, data: TimerStart, new_id: PydanticObjectId | None = None) -> TimeEntry:
    """Insert the caller's running entry; the unique (owner_id, user_id, timer_slot) index turns a second one
    of the same user into 409."""
    project = await project_for_time(owner, data.project_id)
    entry = TimeEntry(
        id=new_id or PydanticObjectId(),
        owner_id=owner.id,
        user_id=owner.user_id,
        project_id=project.id,
        client_id=project.client_id,
        description=data.description,
        started_at=utc_now(),
        billable=data.billable,
        hourly_rate_cents=_cents(data.hourly_rate),
        timer_slot=RUNNING_SLOT,
    )
    try:
        entry = await insert_confirmed(entry, _parents(project), "time_entry.started")
    except DuplicateKeyError:
        raise TimerRunning("A timer is already running; stop it first") from None
    return entry


async def stop_timer(owner: Caller, entry_id: str, expected: Expected = ANY) -> TimeEntry:
    """Stop a running entry. A timer left running longer than 24 h is capped at started_at + 24 h."""

    async def attempt() -> TimeEntry | None:
        entry = await get_owned(TimeEntry, entry_id, owner.id, expected, _editable_by(owner))
        if not LIFECYCLE.allows(status(entry), "stop"):
            raise InvalidState("This time entry is not running")
        started = entry.started_at
        ended = max(min(utc_now(), started + MAX_ENTRY), started + timedelta(milliseconds=1))
        stopped = await update_owned(
            TimeEntry,
            entry.id,
            owner.id,
            {
                "ended_at": ended,
                "duration_seconds": duration_seconds(started, ended),
                "timer_slot": str(entry.id),
            },
            where={"timer_slot": RUNNING_SLOT, "started_at": started},
            event=pending("time_entry.stopped"),
            expected=expected,
        )
        return stopped

    stopped = await compare_and_set(attempt, "The time entry kept changing while being stopped; try again")
    await publish(stopped)
    return stopped


async def get_entry(owner: Owner, entry_id: str) -> TimeEntry:
    return await get_owned(TimeEntry, entry_id, owner.id)


async def update_entry(
    owner: Caller, entry_id: str, data: TimeEntryUpdate, expected: Expected = ANY
) -> TimeEntry:
    changes = provided_fields(data)
    entry = await get_owned(TimeEntry, entry_id, owner.id, expected, _editable_by(owner))
    project = await _target_project(owner, entry, changes.get("project_id"))

    async def attempt() -> TimeEntry | None:
        entry = await get_owned(TimeEntry, entry_id, owner.id, expected)  # gone: 404; else (re-)check
        fields, where = _merge(entry, changes, project)
        event = pending("time_entry.updated")
        updated = await update_owned(
            TimeEntry,
            entry.id,
            owner.id,
            fields,
            where={"invoice_id": None, **where},
            event=event,
            expected=expected,
        )
        if updated is not None:
            await confirm_moved(entry, fields, {"project_id": Project, "client_id": Client}, event=event)
        return updated

    updated = await compare_and_set(attempt, "The time entry kept changing while being updated; try again")
    await publish(updated)
    return updated


async def _target_project(owner: Books, entry: TimeEntry, project_id: str | None) -> Project | None:
    """The project an entry moves to: the caller's (else 400), open for time unless it is the same one."""
    if project_id is None:
        return None
    if project_id == str(entry.project_id):
        return await get_referenced(Project, project_id, owner.id, "project_id")
    return await project_for_time(owner, project_id)


def _merge(
    entry: TimeEntry, changes: dict[str, Any], project: Project | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The $set for a PATCH on `entry` as read, and the filter that pins what the checks relied on."""
    if not LIFECYCLE.allows(status(entry), "edit"):
        raise _locked(entry)
    fields: dict[str, Any] = {k: changes[k] for k in ("description", "billable") if k in changes}
    if "hourly_rate" in changes:
        fields["hourly_rate_cents"] = _cents(changes["hourly_rate"])
    if project is not None:
        fields["project_id"], fields["client_id"] = project.id, project.client_id
    if "started_at" not in changes and "ended_at" not in changes:
        return fields, {}
    started = to_utc_ms(changes.get("started_at", entry.started_at))
    if status(entry) == "running":
        if "ended_at" in changes:
            raise InvalidState("A running entry is stopped with POST /api/time-entries/{id}/stop")
        if started > utc_now():
            raise ValidationFailed.field("started_at", "must not be in the future for a running entry")
        fields["started_at"] = started
    else:
        ended_at = changes.get("ended_at", entry.ended_at)
        assert ended_at is not None  # a stopped entry always has one
        ended = to_utc_ms(ended_at)
        error = span_error(started, ended)
        if error:
            field = "ended_at" if "ended_at" in changes else "started_at"
            message = error if field == "ended_at" else error.replace("after started_at", "before ended_at")
            raise ValidationFailed.field(field, message)
        fields.update(started_at=started, ended_at=ended, duration_seconds=duration_seconds(started, ended))
    where = {"timer_slot": entry.timer_slot, "started_at": entry.started_at, "ended_at": entry.ended_at}
    return fields, where


async def delete_entry(owner: Caller, entry_id: str, expected: Expected = ANY) -> None:
    """Not while it is on an invoice (409 already_invoiced); a running entry is discarded. A member's own
    entries only (the tombstone's filter holds it; a miss re-reads and answers 403)."""
    await delete_owned_where(
        TimeEntry,
        entry_id,
        owner.id,
        {"invoice_id": None, **_mine(owner)},
        lambda entry: None if LIFECYCLE.allows(status(entry), "delete") else _locked(entry),
        expected=expected,
        permits=_editable_by(owner),
    )


async def migrate_user_ids() -> None:
    """Entries stored before organisations carry no `user_id`: the user who made them owned them, and their
    personal organisation has that user's id, so `owner_id` is their user (one pipeline update; run once per
    database, db/data_migrations.py)."""
    await TimeEntry.get_motor_collection().update_many(
        {"user_id": {"$exists": False}}, [{"$set": {"user_id": "$owner_id"}}]
    )
