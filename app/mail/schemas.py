from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from app.core.schemas import BaseStruct, Page, ResponseStruct, component
from app.mail.documents import EmailRecord

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


class EmailQueued(ResponseStruct):
    id: str
    invoice_id: str
    to: list[str]
    status: EmailStatus
    created_at: datetime

    @classmethod
    def from_document(cls, record: EmailRecord) -> EmailQueued:
        return cls(
            id=str(record.id),
            invoice_id=str(record.invoice_id),
            to=record.to,
            status=EmailStatus(record.status),
            created_at=record.created_at,
        )


class EmailOut(ResponseStruct):
    id: str
    invoice_id: str
    to: list[str]
    cc: list[str]
    subject: str
    status: EmailStatus
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    created_at: datetime

    @classmethod
    def from_document(cls, record: EmailRecord) -> EmailOut:
        return cls(
            id=str(record.id),
            invoice_id=str(record.invoice_id),
            to=record.to,
            cc=record.cc,
            subject=record.subject,
            status=EmailStatus(record.status),
            attempts=record.attempts,
            last_error=record.last_error,
            sent_at=record.sent_at,
            created_at=record.created_at,
        )


EmailPage = Annotated[Page[EmailOut], component("EmailPage")]
