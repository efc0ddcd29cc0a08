from __future__ import annotations

from datetime import datetime

from beanie import PydanticObjectId
from pymongo import ASCENDING, IndexModel

from app.db.indexes import sort_index
from app.db.repository import OwnedDocument

QUEUED, SENT, FAILED = "queued", "sent", "failed"
INVOICE, REMINDER = "invoice", "reminder"


class EmailRecord(OwnedDocument):
    """One e-mail of an invoice or of one of its credit notes: what was asked, each attempt's outcome, and the
    SMTP server's last reply."""

    invoice_id: PydanticObjectId
    # Set on a credit note's e-mail (it carries the note's document); `invoice_id` is then its invoice's.
    credit_note_id: PydanticObjectId | None = None
    to: list[str]
    cc: list[str]
    subject: str
    message: str
    # Fixed when the e-mail is requested, so every attempt sends the same message (receivers drop repeats).
    message_id: str
    # Who asked for it, for `Reply-To` when the organisation's profile names no e-mail (older records: none).
    reply_to: str | None = None
    status: str = QUEUED
    attempts: int = 0  # SMTP attempts started (counted before each, so one cut short by a crash counts too)
    last_error: str | None = None
    sent_at: datetime | None = None
    # False until the worker job that delivers it exists: the recovery enqueues (again) what it finds here.
    enqueued: bool = False
    # "invoice": asked for by POST /email; "reminder": written by the reminders pass for the rule
    # `reminder_days` (its days_after_due), once per rule and invoice (the unique index below), with the id of
    # its `invoice.reminder_sent` event fixed in advance, so a repeated delivery emits it once.
    kind: str = INVOICE
    reminder_days: int | None = None
    event_id: PydanticObjectId | None = None

    class Settings:
        name = "invoice_emails"
        indexes = [
            # An invoice's e-mails, sorted by created_at either way (the list always filters on the invoice).
            sort_index("owner_invoice_sort_created_at", "invoice_id", "created_at"),
            sort_index("owner_credit_note_sort_created_at", "credit_note_id", "created_at"),
            IndexModel([("enqueued", ASCENDING), ("created_at", ASCENDING)], name="enqueued_created"),
            # One reminder per rule and invoice, however many passes run at once; also how a pass reads
            # which rules an invoice has had (mail/reminders.py).
            IndexModel(
                [("owner_id", ASCENDING), ("invoice_id", ASCENDING), ("reminder_days", ASCENDING)],
                name="owner_invoice_reminder_unique",
                unique=True,
                partialFilterExpression={"kind": REMINDER},
            ),
        ]
