from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from app.db.pagination import Page
from app.http.mapping import Mapped, Read, Source
from app.http.schemas import BaseStruct, ResponseStruct, component
from app.mail.models import EmailRecord

MAX_RECIPIENTS = 10
Address = Annotated[str, msgspec.Meta(max_length=254, examples=["ap@client.example"])]


class EmailStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class EmailCreate(BaseStruct):
    """`to` defaults to the client's e-mail; every address is checked and folded like any `email` field."""

    to: Annotated[list[Address], msgspec.Meta(min_length=1, max_length=MAX_RECIPIENTS)] | None = None
    cc: Annotated[list[Address], msgspec.Meta(max_length=MAX_RECIPIENTS)] = []
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)] | None = None

    def __post_init__(self) -> None:
        if len(self.to or ()) + len(self.cc) > MAX_RECIPIENTS:
            raise ValueError(f"to: at most {MAX_RECIPIENTS} recipients in to and cc together")


class EmailKind(StrEnum):
    """`invoice`: asked for by POST /api/invoices/{id}/email; `reminder`: a payment reminder (section 23)."""

    INVOICE = "invoice"
    REMINDER = "reminder"


class EmailQueued(ResponseStruct, Mapped):
    id: str
    invoice_id: str
    credit_note_id: str | None
    to: list[str]
    status: EmailStatus
    created_at: datetime

    SOURCE = Source(EmailRecord, invoice_id=str, credit_note_id=str, status=EmailStatus)


class EmailOut(ResponseStruct, Mapped):
    id: str
    invoice_id: str
    credit_note_id: str | None  # a credit note's e-mail (it shows in its invoice's list too)
    to: list[str]
    cc: list[str]
    subject: str
    status: EmailStatus
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime
    kind: EmailKind
    # The rule a reminder was sent for (its days_after_due); null for an invoice e-mail.
    days_after_due: int | None

    SOURCE = Source(
        EmailRecord,
        invoice_id=str,
        credit_note_id=str,
        status=EmailStatus,
        kind=EmailKind,
        days_after_due=Read(int, "reminder_days"),
    )


EmailPage = Annotated[Page[EmailOut], component("EmailPage")]
