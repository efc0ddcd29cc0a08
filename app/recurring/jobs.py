"""The worker side of recurring schedules (API.md section 23).

The scheduler pass (a periodic task) finds the schedules whose next run is due: one indexed query on
`due_at` (a bound no organisation's local midnight comes before), one query for those organisations' time
zones, and one unordered insert of a job per schedule that is due at its organisation's local midnight. The
job (`recurring_run`) runs what is due for that schedule, oldest period first, each run in steps that are all
safe to repeat, so a worker that dies anywhere leaves a job whose lease expires and whose next attempt
finishes the run:

1. the period's draft (`invoices.create_recurring_invoice`: exactly one per schedule and period, by a unique
   index; a repeat finds it);
2. for `send` and `send_and_email`, the invoices' own send (number, document, Factur-X validation), or the
   finishing of a send cut short (`finish_send`, as the recovery does);
3. for `send_and_email`, the e-mail (one per invoice: its record's id is the invoice's);
4. the schedule advances to its next run (a write conditional on the run it made).

A run whose invoice fails validation (a client deleted, lines or tax the invoice rules refuse, an e-invoice
that breaks EN 16931, a client without an e-mail address) pauses its schedule with the reason and emits
`recurring_invoice.failed`; it is not retried.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from app.config import Settings
from app.core.clock import as_utc, clock, local_midnight, today_in
from app.core.errors import AppError, InvalidReference, InvalidState, ValidationFailed
from app.db.actors import SYSTEM, acting_as
from app.db.repository import parse_object_id
from app.documents.errors import DocumentTooLarge, EInvoiceInvalid
from app.invoices import lifecycle
from app.invoices import service as invoices
from app.invoices.models import Invoice
from app.mail import service as mail
from app.mail.errors import EmailUnavailable
from app.organizations import service as organizations
from app.organizations.models import Books
from app.recurring import service
from app.recurring.calendar import period_end
from app.recurring.models import RecurringInvoice
from app.worker import NewJob, PermanentFailure, enqueue_many, register_handler, register_periodic

log = logging.getLogger("orbix.recurring")

JOB_KIND = "recurring_run"
SCHEDULER = "recurring.schedule"
EVERY_SECONDS = 60.0
# Candidates one pass reads (the oldest `due_at` first); more wait for the next pass.
PASS_BATCH = 1000
# Runs one job makes for one schedule (a worker down for years catches up over several jobs).
RUNS_PER_JOB = 100
# What no retry can change: the run's invoice is refused, so the schedule pauses itself with the reason.
REFUSED: tuple[type[AppError], ...] = (
    ValidationFailed,
    InvalidReference,
    EInvoiceInvalid,
    DocumentTooLarge,
    EmailUnavailable,
)


def register(settings: Settings) -> None:
    register_handler(JOB_KIND, partial(run_schedule, settings))
    register_periodic(SCHEDULER, EVERY_SECONDS, _pass)


async def _pass() -> None:
    await schedule_due_runs()


async def schedule_due_runs() -> int:
    """One pass: queue a run job for every schedule due now at its organisation's local midnight (by the
    business clock). Returns how many jobs it queued (a job already queued for that run is not queued
    again: its key names the schedule, its run date and its version)."""
    now = clock().now()
    collection = RecurringInvoice.get_motor_collection()
    candidates = await (
        collection.find(
            {"due_at": {"$lte": now}}, {"owner_id": 1, "next_run_on": 1, "version": 1, "removed": 1}
        )
        .sort([("due_at", 1), ("_id", 1)])
        .limit(PASS_BATCH)
        .to_list(None)
    )
    zones = {
        owner_id: organization.business.time_zone
        for owner_id, organization in (
            await organizations.books_of(raw["owner_id"] for raw in candidates)
        ).items()
    }
    due: list[NewJob] = []
    for raw in candidates:
        zone = zones.get(raw["owner_id"])
        if zone is None or raw.get("removed") or raw.get("next_run_on") is None:
            continue
        day = as_utc(raw["next_run_on"]).date()
        if now < local_midnight(day, zone):
            continue  # due later in its organisation's zone (west of UTC+14)
        due.append(
            NewJob(
                JOB_KIND,
                {"schedule_id": str(raw["_id"]), "owner_id": str(raw["owner_id"])},
                owner_id=raw["owner_id"],
                dedupe_key=f"{JOB_KIND}:{raw['_id']}:{day}:{raw.get('version', 0)}",
            )
        )
    return await enqueue_many(due)


async def run_schedule(settings: Settings, payload: dict[str, Any]) -> None:
    """Make every run of the schedule that is due now, oldest first (the job's handler)."""
    owner_id = parse_object_id(payload.get("owner_id", ""))
    schedule_id = parse_object_id(payload.get("schedule_id", ""))
    if owner_id is None or schedule_id is None:
        raise PermanentFailure(f"malformed payload {payload!r}")
    with acting_as(SYSTEM):  # a scheduled run's invoice is the system's (section 15)
        for _ in range(RUNS_PER_JOB):
            books = await organizations.books(owner_id)
            schedule = await service.due_schedule(owner_id, schedule_id)
            if books is None or schedule is None or schedule.next_run_on is None:
                return
            if schedule.next_run_on > today_in(books.business.time_zone):
                return
            if not await run_once(settings, books, schedule):
                return


async def run_once(settings: Settings, books: Books, schedule: RecurringInvoice) -> bool:
    """The run of `schedule.next_run_on`; True when the schedule moved on to its next run."""
    assert schedule.next_run_on is not None
    start = schedule.next_run_on
    existing = await invoices.recurring_invoice_of(books.id, schedule.id, start)
    if existing is None and not service.LIFECYCLE.allows(schedule.status, "run"):
        return False  # paused meanwhile: its runs are skipped (a run begun before is finished, above)
    try:
        invoice = existing or await invoices.create_recurring_invoice(books, _run_of(schedule))
        if schedule.send != "draft":
            invoice = await _sent(books, invoice)
        if schedule.send == "send_and_email" and invoice.status != "void":  # voided by hand meanwhile
            await mail.queue_scheduled_email(settings, books, invoice)
    except REFUSED as error:
        reason = f"the run of {start} failed: {error.detail}"
        log.warning("recurring invoice %s paused: %s", schedule.id, reason)
        await service.pause_failed(schedule, reason)
        return False
    return await service.advance(schedule, invoice.id) is not None


def _run_of(schedule: RecurringInvoice) -> invoices.RecurringRun:
    assert schedule.next_run_on is not None and schedule.id is not None
    return invoices.RecurringRun(
        recurring_invoice_id=schedule.id,
        period_start=schedule.next_run_on,
        period_end=period_end(service.cadence_of(schedule), schedule.run_index),
        client_id=schedule.client_id,
        project_id=schedule.project_id,
        lines=schedule.lines,
        notes=schedule.notes,
        tax_rate=schedule.tax_rate,
        tax_category=schedule.tax_category,
        tax_exemption_reason=schedule.tax_exemption_reason,
        discount_rate=schedule.discount_rate,
    )


async def _sent(books: Books, invoice: Invoice) -> Invoice:
    """The invoice sent through the invoices' own send path; a send already made (another worker, or an
    attempt that died) is finished instead, as the recovery would finish it."""
    if invoice.status == "draft":
        try:
            return await lifecycle.send_invoice(books, str(invoice.id))
        except InvalidState:
            found = await invoices.recurring_invoice_of(
                books.id, invoice.recurring_invoice_id, _start(invoice)
            )
            if found is None or found.status == "draft":
                raise
            invoice = found
    if invoice.status == "void":
        return invoice
    if invoice.number is None or invoice.document is None or invoice.sending_at is not None:
        return await lifecycle.finish_send(books, invoice.id)
    return invoice


def _start(invoice: Invoice) -> Any:
    assert invoice.period is not None
    return invoice.period.start
