from __future__ import annotations

from datetime import date, datetime

from beanie import PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from app.db.decimals import StoredDecimal
from app.db.indexes import owner_index, sort_indexes
from app.db.outbox import OUTBOX_INDEX
from app.db.repository import OwnedDocument
from app.invoices.models import StoredLine

ACTIVE, PAUSED, ENDED = "active", "paused", "ended"
SCHEDULE_STATUSES = (ACTIVE, PAUSED, ENDED)
SEND_MODES = ("draft", "send", "send_and_email")


class RecurringInvoice(OwnedDocument):
    """A schedule that makes one invoice per period (section 23).

    Run n falls on `Cadence(frequency, interval, anchor, anchor_day).run(n)` (recurring/calendar.py): the
    anchor is the start date until a PATCH changes the cadence, which rebases it on the next run. `run_index`
    is the n of `next_run_on`. `due_at` is what the scheduler's one indexed query reads: a UTC instant no
    later than the organisation's local midnight of `next_run_on` in any time zone (that midnight UTC minus
    14 hours, the earliest offset there is), so a change of the organisation's zone can never make a run
    late; each candidate is then resolved with its organisation's zone. Null unless the schedule is active.
    """

    client_id: PydanticObjectId
    project_id: PydanticObjectId | None = None
    lines: list[StoredLine] = Field(default_factory=list)
    notes: str = ""
    tax_rate: StoredDecimal
    tax_category: str
    tax_exemption_reason: str | None = None
    discount_rate: StoredDecimal
    # What each invoice of the schedule comes to (as its lines and rates stand now).
    subtotal_cents: int = 0
    discount_cents: int = 0
    tax_cents: int = 0
    total_cents: int = 0
    frequency: str
    interval: int = 1
    start_date: date
    end_date: date | None = None
    send: str = "draft"
    status: str = ACTIVE
    anchor: date
    anchor_day: int
    run_index: int = 0
    next_run_on: date | None = None
    due_at: datetime | None = None
    # The last run made (its period start) and its invoice: a resume never bills that period again.
    last_run_on: date | None = None
    last_invoice_id: PydanticObjectId | None = None
    # Why the schedule paused itself (a run whose invoice failed validation); cleared by resume.
    paused_reason: str | None = None

    class Settings:
        name = "recurring_invoices"
        indexes = [
            *sort_indexes("next_run_on", "created_at"),
            owner_index("owner_status", "status"),
            owner_index("owner_client", "client_id"),
            # The scheduler pass: due candidates in due_at order (null, for schedules not active, is
            # outside every `$lte` range, so those are never read).
            IndexModel([("due_at", ASCENDING), ("_id", ASCENDING)], name="due"),
            OUTBOX_INDEX,
        ]
