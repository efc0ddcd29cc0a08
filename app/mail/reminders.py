"""Payment reminders (API.md section 23): a periodic pass e-mails the client of each sent, unpaid invoice
once per rule of its organisation's `business.reminders`, on the first pass on or after the day the invoice
is that many days past due in the organisation's time zone (the business clock's today there).

- **The latest only.** When several rules are due at once (a worker was down, rules were added later), only
  the one with the most days goes; the earlier ones count as done and never go later. An invoice's state is
  the largest `days_after_due` it has a reminder for: a rule at or below it is done.
- **Exactly once per rule and invoice.** The reminder is an e-mail record of kind `reminder` written with its
  rule's days; a unique index on (organisation, invoice, days) makes a second write, by a pass running at
  the same time or one repeating a pass a crash cut short, a no-op. The record is the commitment: its job is
  enqueued under the record's key, and the e-mail recovery enqueues any record whose job is missing
  (app/mail/service.py). Delivery is the invoice e-mail's (app/mail/delivery.py): the stored PDF attached,
  EMAIL_DAILY_LIMIT counted before it goes, and a re-check of the invoice at send time, so a payment, a credit
  note or a void that lands while the reminder waits in the queue stops it (it ends `failed`, saying why).
- **Cheap.** One read of the organisations with rules (a sparse index holds only them), then per batch one
  read of their sent invoices due on or before today less their smallest rule (the (owner, status, due date)
  index bounds it) and one read of those invoices' reminders so far; writes only for what is due.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from bson import ObjectId

from app.config import Settings
from app.core.clock import today_in
from app.invoices import reminders as invoices
from app.mail import service
from app.mail.models import REMINDER, EmailRecord
from app.organizations import service as organizations
from app.organizations.models import Organization, ReminderRule
from app.worker import register_periodic

log = logging.getLogger("orbix.mail")

PERIODIC = "invoice_reminders"
EVERY_SECONDS = 60.0
BATCH = 200  # organisations per invoice query
IDS_PER_READ = 1000  # invoices per read of their reminders so far


def register(settings: Settings) -> None:
    async def run() -> None:
        await remind(settings)

    register_periodic(PERIODIC, EVERY_SECONDS, run)


def latest_due(rules: Iterable[ReminderRule], due_date: date, today: date) -> ReminderRule | None:
    """The rule with the most days whose day (due date + days) has come by `today`, or None."""
    due = [rule for rule in rules if due_date + timedelta(days=rule.days_after_due) <= today]
    return max(due, key=lambda rule: rule.days_after_due, default=None)


async def remind(settings: Settings) -> int:
    """One pass: write (and enqueue) every reminder that is due; how many were written. Without SMTP_HOST
    nothing could go: the pass waits for a worker that has it."""
    if not settings.smtp_configured:
        return 0
    written = 0
    async for batch in organizations.with_reminders(BATCH):
        written += await _remind_batch(settings, batch)
    return written


async def _remind_batch(settings: Settings, batch: list[Organization]) -> int:
    by_id: dict[Any, Organization] = {}
    todays: dict[Any, date] = {}
    cutoffs: dict[Any, date] = {}
    for organization in batch:
        rules = organization.business.reminders
        if not rules or organization.id is None:
            continue
        try:
            today = today_in(organization.business.time_zone)
        except Exception:  # a zone the tz database lost since it was stored: this organisation waits
            log.warning("reminders of %s: unknown time zone", organization.id, exc_info=True)
            continue
        by_id[organization.id], todays[organization.id] = organization, today
        cutoffs[organization.id] = today - timedelta(days=min(rule.days_after_due for rule in rules))
    unpaid = await invoices.unpaid_due_by(cutoffs)
    done = await _reminded(list(by_id), [invoice.id for invoice in unpaid])
    written = 0
    for invoice in unpaid:
        organization = by_id[invoice.owner_id]
        rule = latest_due(organization.business.reminders, invoice.due_date, todays[invoice.owner_id])
        if rule is None or done.get(invoice.id, -1) >= rule.days_after_due:
            continue
        try:
            if await service.queue_reminder(settings, organization, invoice.id, rule) is not None:
                written += 1
        except Exception:  # one invoice's failure holds up no other's reminder; the next pass tries again
            log.warning("reminder of invoice %s not written", invoice.id, exc_info=True)
    return written


async def _reminded(owner_ids: list[ObjectId], invoice_ids: list[ObjectId]) -> dict[ObjectId, int]:
    """The largest `days_after_due` each invoice has a reminder for (read through the unique index on
    (owner, invoice, days), whose partial filter is the `kind` condition)."""
    done: dict[ObjectId, int] = {}
    collection = EmailRecord.get_motor_collection()
    for start in range(0, len(invoice_ids), IDS_PER_READ):
        query: dict[str, Any] = {
            "owner_id": {"$in": owner_ids},
            "invoice_id": {"$in": invoice_ids[start : start + IDS_PER_READ]},
            "kind": REMINDER,
        }
        async for raw in collection.find(query, {"invoice_id": 1, "reminder_days": 1}):
            done[raw["invoice_id"]] = max(done.get(raw["invoice_id"], -1), raw["reminder_days"])
    return done
