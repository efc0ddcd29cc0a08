"""Recurring invoice schedules (API.md section 23): create, read, list, edit (future runs only), delete,
pause and resume; and the schedule's own moves after a run (advance, end, pause itself on a failure).

Statuses follow one transition table (LIFECYCLE). Every change is one conditional update on the schedule,
filtered by its status (and, where it recomputes runs, by the version it read), so two racing writes never
both win. The invoices themselves are made by the invoices area (`create_recurring_invoice`), never here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from msgspec import UNSET

from app.auth.models import Owner
from app.clients.models import Client
from app.core.clock import midnight_utc, today_in
from app.core.errors import InvalidState, ValidationFailed
from app.core.retry import compare_and_set
from app.core.transitions import DELETED, Lifecycle, Transition
from app.db.outbox import pending, publish
from app.db.pagination import Page, PageParams, id_filters, paginate_raw, sortable
from app.db.repository import (
    confirm_moved,
    delete_owned_where,
    get_owned,
    get_owned_view,
    get_referenced,
    insert_confirmed,
    owned_filter,
    update_owned,
)
from app.db.versions import ANY, VERSION, Expected
from app.invoices import service as invoices
from app.invoices.tax_category import TaxCategory, default_category, follow_rate
from app.organizations.models import Books
from app.projects.models import Project
from app.projects.service import project_of_client
from app.recurring.calendar import MONTHS, Cadence, Frequency
from app.recurring.models import ACTIVE, ENDED, PAUSED, RecurringInvoice
from app.recurring.schemas import (
    RecurringInvoiceCreate,
    RecurringInvoiceFilters,
    RecurringInvoiceOut,
    RecurringInvoiceUpdate,
)

SORTS = sortable(RecurringInvoice, {"next_run_on": "next_run_on", "created_at": "created_at"})

# action -> (statuses it may start from, status after it). "run" is a worker's run of the due period,
# "fail" the pause a run makes when its invoice fails validation, "end" the move past the last run.
LIFECYCLE = Lifecycle(
    {
        "edit": Transition((ACTIVE, PAUSED)),
        "delete": Transition((ACTIVE, PAUSED, ENDED), DELETED),
        "pause": Transition((ACTIVE,), PAUSED),
        "resume": Transition((PAUSED,), ACTIVE),
        "run": Transition((ACTIVE,)),
        "fail": Transition((ACTIVE,), PAUSED),
        "end": Transition((ACTIVE, PAUSED), ENDED),
    }
)
_REFUSALS = {
    "edit": "an ended schedule cannot be edited",
    "pause": "only an active schedule can be paused",
    "resume": "only a paused schedule can be resumed",
}
# The earliest UTC offset of any time zone (Pacific/Kiritimati, UTC+14): no organisation's local midnight of
# a day comes before that day's midnight UTC minus this.
EARLIEST_OFFSET = timedelta(hours=14)


def due_at(day: date) -> datetime:
    """The scheduler's lower bound for the run on `day`: no zone's local midnight of `day` is earlier."""
    return midnight_utc(day) - EARLIEST_OFFSET


def cadence_of(schedule: RecurringInvoice) -> Cadence:
    return Cadence(schedule.frequency, schedule.interval, schedule.anchor, schedule.anchor_day)


def today_of(owner: Books) -> date:
    """Today in the organisation's time zone, by the business clock."""
    return today_in(owner.business.time_zone)


def refuse(schedule: RecurringInvoice, action: str) -> InvalidState:
    return InvalidState(f"Recurring invoice {schedule.id} is {schedule.status}; {_REFUSALS[action]}")


def _require(schedule: RecurringInvoice, action: str) -> None:
    if not LIFECYCLE.allows(schedule.status, action):
        raise refuse(schedule, action)


def _at_version(schedule: RecurringInvoice) -> dict[str, Any]:
    return {VERSION: schedule.version}


# ---------------------------------------------------------------- create, read, list


async def create_schedule(
    owner: Books, data: RecurringInvoiceCreate, new_id: PydanticObjectId | None = None
) -> RecurringInvoice:
    client = await get_referenced(Client, data.client_id, owner.id, "client_id")
    project = await project_of_client(owner, data.project_id, client.id) if data.project_id else None
    today = today_of(owner)
    if data.start_date < today:
        zone = owner.business.time_zone
        raise ValidationFailed.field(
            "start_date", f"must be on or after today ({today} in the organisation's time zone, {zone})"
        )
    tax_rate = data.tax_rate if data.tax_rate is not None else owner.business.default_tax_rate
    category = data.tax_category or default_category(tax_rate)
    lines = invoices.stored_lines(data.lines)
    invoices.check_tax(lines, category, tax_rate, data.tax_exemption_reason)
    schedule = RecurringInvoice(
        id=new_id or PydanticObjectId(),
        owner_id=owner.id,
        client_id=client.id,
        project_id=project.id if project else None,
        notes=data.notes,
        tax_rate=tax_rate,
        tax_category=category.value,
        tax_exemption_reason=data.tax_exemption_reason,
        discount_rate=data.discount_rate,
        frequency=data.frequency.value,
        interval=data.interval,
        start_date=data.start_date,
        end_date=data.end_date,
        send=data.send.value,
        anchor=data.start_date,
        anchor_day=data.start_date.day,
        next_run_on=data.start_date,
        due_at=due_at(data.start_date),
        **invoices.priced(lines, discount_rate=data.discount_rate, tax_rate=tax_rate, tax_category=category),
    )
    parents = [(Client, schedule.client_id, "client_id"), (Project, schedule.project_id, "project_id")]
    return await insert_confirmed(schedule, parents)  # type: ignore[arg-type]


async def get_schedule(owner: Owner, schedule_id: str) -> RecurringInvoiceOut:
    return await get_owned_view(RecurringInvoice, schedule_id, owner.id, RecurringInvoiceOut)


async def list_schedules(
    owner: Owner, params: PageParams, filters: RecurringInvoiceFilters
) -> Page[RecurringInvoiceOut]:
    query = owned_filter(owner.id, id_filters(client_id=filters.client_id))
    if filters.status is not None:
        query["status"] = filters.status.value
    return await paginate_raw(RecurringInvoice, query, params, SORTS, RecurringInvoiceOut)


# ---------------------------------------------------------------- edits of the runs to come


async def update_schedule(
    owner: Books, schedule_id: str, data: RecurringInvoiceUpdate, expected: Expected = ANY
) -> RecurringInvoice:
    """Merge into what was read and write only if the schedule did not change meanwhile (else re-read)."""

    async def attempt() -> RecurringInvoice | None:
        current = await get_owned(RecurringInvoice, schedule_id, owner.id, expected)
        fields = await _project_change(owner, current, data)  # 400 before any state rule
        _require(current, "edit")
        fields.update(_edited_fields(current, data))
        event = pending("recurring_invoice.updated")
        updated = await update_owned(
            RecurringInvoice,
            current.id,
            owner.id,
            fields,
            where={**LIFECYCLE.where("edit"), **_at_version(current)},
            event=event,
            expected=expected,
        )
        if updated is not None:
            await confirm_moved(current, fields, {"project_id": Project}, event=event)
        return updated

    updated = await compare_and_set(
        attempt, "The recurring invoice kept changing while this edit ran; fetch it and try again"
    )
    await publish(updated)
    return updated


async def _project_change(
    owner: Books, current: RecurringInvoice, data: RecurringInvoiceUpdate
) -> dict[str, Any]:
    if data.project_id is UNSET:
        return {}
    if data.project_id is None:
        return {"project_id": None}
    project = await project_of_client(owner, data.project_id, current.client_id)
    return {"project_id": project.id}


def _edited_fields(current: RecurringInvoice, data: RecurringInvoiceUpdate) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if data.notes is not UNSET:
        fields["notes"] = data.notes
    if data.send is not UNSET:
        fields["send"] = data.send.value
    tax_rate = current.tax_rate if data.tax_rate is UNSET else data.tax_rate
    category = (
        follow_rate(TaxCategory(current.tax_category), tax_rate)
        if data.tax_category is UNSET
        else data.tax_category
    )
    reason = current.tax_exemption_reason if data.tax_exemption_reason is UNSET else data.tax_exemption_reason
    discount_rate = current.discount_rate if data.discount_rate is UNSET else data.discount_rate
    lines = current.lines if data.lines is UNSET else invoices.stored_lines(data.lines)
    invoices.check_tax(lines, category, tax_rate, reason)
    fields.update(
        tax_rate=tax_rate,
        tax_category=category.value,
        tax_exemption_reason=reason,
        discount_rate=discount_rate,
        **invoices.priced(lines, discount_rate=discount_rate, tax_rate=tax_rate, tax_category=category),
    )
    fields.update(_cadence_change(current, data))
    end_date = current.end_date if data.end_date is UNSET else data.end_date
    if data.end_date is not UNSET:
        fields["end_date"] = end_date
    if end_date is not None:
        first = fields.get("next_run_on", current.next_run_on) or current.start_date
        if end_date < max(first, current.start_date):
            raise ValidationFailed.field(
                "end_date",
                f"must be on or after the next run ({first}) and the start date ({current.start_date})",
            )
    return fields


def _cadence_change(current: RecurringInvoice, data: RecurringInvoiceUpdate) -> dict[str, Any]:
    """A new frequency or interval counts from the next run (the runs made stay as they were)."""
    frequency = current.frequency if data.frequency is UNSET else data.frequency.value
    interval = current.interval if data.interval is UNSET else data.interval
    if (frequency, interval) == (current.frequency, current.interval):
        return {}
    fields: dict[str, Any] = {"frequency": frequency, "interval": interval}
    if current.next_run_on is None:  # ended: no run to rebase (an ended schedule is not edited)
        return fields
    monthly_before = Frequency(current.frequency) in MONTHS
    monthly_after = Frequency(frequency) in MONTHS
    # Month-based runs keep returning to the start date's day; otherwise the next run's day is the anchor.
    day = current.anchor_day if monthly_before and monthly_after else current.next_run_on.day
    fields.update(anchor=current.next_run_on, anchor_day=day, run_index=0)
    return fields


async def delete_schedule(owner: Books, schedule_id: str, expected: Expected = ANY) -> None:
    """The schedule goes; the invoices it made stay (they are the books)."""
    await delete_owned_where(
        RecurringInvoice,
        schedule_id,
        owner.id,
        LIFECYCLE.where("delete"),
        lambda schedule: None,
        expected=expected,
    )


# ---------------------------------------------------------------- pause and resume


async def pause_schedule(owner: Books, schedule_id: str, expected: Expected = ANY) -> RecurringInvoice:
    """active → paused: no run is due while paused (runs that fall meanwhile are skipped)."""
    paused = await update_owned(
        RecurringInvoice,
        schedule_id,
        owner.id,
        {"status": LIFECYCLE.target("pause"), "due_at": None},
        where=LIFECYCLE.where("pause"),
        event=pending("recurring_invoice.paused"),
        expected=expected,
    )
    if paused is None:
        current = await get_owned(RecurringInvoice, schedule_id, owner.id, expected)
        raise refuse(current, "pause")
    await publish(paused)
    return paused


async def resume_schedule(owner: Books, schedule_id: str, expected: Expected = ANY) -> RecurringInvoice:
    """paused → active with `next_run_on` the first run date on or after today (in the organisation's zone)
    whose period was not billed yet; with no run left before `end_date`, the schedule ends instead."""

    async def attempt() -> RecurringInvoice | None:
        current = await get_owned(RecurringInvoice, schedule_id, owner.id, expected)
        _require(current, "resume")
        fields, event = _resumed(current, today_of(owner))
        return await update_owned(
            RecurringInvoice,
            current.id,
            owner.id,
            fields,
            where={**LIFECYCLE.where("resume"), **_at_version(current)},
            event=pending(event),
            expected=expected,
        )

    resumed = await compare_and_set(attempt, "The recurring invoice kept changing; fetch it and try again")
    await publish(resumed)
    return resumed


def _resumed(current: RecurringInvoice, today: date) -> tuple[dict[str, Any], str]:
    after = today
    if current.last_run_on is not None:
        after = max(after, current.last_run_on + timedelta(days=1))
    found = cadence_of(current).first_on_or_after(after)
    if found is None or (current.end_date is not None and found[1] > current.end_date):
        return _ended_fields(), "recurring_invoice.ended"
    n, day = found
    fields = {
        "status": LIFECYCLE.target("resume"),
        "run_index": n,
        "next_run_on": day,
        "due_at": due_at(day),
        "paused_reason": None,
    }
    return fields, "recurring_invoice.resumed"


def _ended_fields() -> dict[str, Any]:
    return {"status": LIFECYCLE.target("end"), "next_run_on": None, "due_at": None}


# ---------------------------------------------------------------- the worker's moves (jobs.py)


async def due_schedule(owner_id: Any, schedule_id: Any) -> RecurringInvoice | None:
    """The schedule as the worker reads it (None once deleted)."""
    raw = await RecurringInvoice.get_motor_collection().find_one(owned_filter(owner_id, _id=schedule_id))
    return None if raw is None else RecurringInvoice.model_validate(raw)


async def advance(schedule: RecurringInvoice, invoice_id: Any) -> RecurringInvoice | None:
    """After the run of `schedule.next_run_on` made its invoice: the next run (or the end, past `end_date`),
    in one write made only while the schedule still stands at that run and in the status it was read in (a
    schedule paused meanwhile moves on too, and stays paused with no `due_at`). None when another run moved
    it first (a second worker's, or a resume's)."""
    for _ in range(ADVANCE_ROUNDS):
        moved = await _advance(schedule, invoice_id)
        if moved is not None:
            await publish(moved)
            return moved
        current = await due_schedule(schedule.owner_id, schedule.id)
        if (
            current is None
            or (current.run_index, current.next_run_on) != (schedule.run_index, schedule.next_run_on)
            or current.status == schedule.status
        ):
            return None
        schedule = current  # its status changed (a pause, an end by edit) while it ran: again from there
    return None


ADVANCE_ROUNDS = 5


async def _advance(schedule: RecurringInvoice, invoice_id: Any) -> RecurringInvoice | None:
    assert schedule.next_run_on is not None
    n = schedule.run_index + 1
    following = cadence_of(schedule).run(n)
    ended = following is None or (schedule.end_date is not None and following > schedule.end_date)
    fields: dict[str, Any] = {
        "run_index": n,
        "last_run_on": schedule.next_run_on,
        "last_invoice_id": invoice_id,
    }
    if ended:
        fields.update(_ended_fields())
    else:
        assert following is not None
        fields.update(next_run_on=following, due_at=due_at(following) if schedule.status == ACTIVE else None)
    where = {
        "status": schedule.status,
        "run_index": schedule.run_index,
        "next_run_on": midnight_utc(schedule.next_run_on),
    }
    event = pending("recurring_invoice.ended") if ended else None
    return await update_owned(
        RecurringInvoice, schedule.id, schedule.owner_id, fields, where=where, event=event
    )


async def pause_failed(schedule: RecurringInvoice, reason: str) -> RecurringInvoice | None:
    """The run of `schedule.next_run_on` cannot make (or send) its invoice: the schedule pauses itself with
    the reason, and `recurring_invoice.failed` says so; it never retries by itself (resume does)."""
    assert schedule.next_run_on is not None
    fields = {"status": LIFECYCLE.target("fail"), "due_at": None, "paused_reason": reason[:500]}
    where = {**LIFECYCLE.where("fail"), "next_run_on": midnight_utc(schedule.next_run_on)}
    failed = await update_owned(
        RecurringInvoice,
        schedule.id,
        schedule.owner_id,
        fields,
        where=where,
        event=pending("recurring_invoice.failed"),
    )
    if failed is not None:
        await publish(failed)
    return failed
