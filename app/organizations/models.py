"""Organisations: the books an agency keeps together (API.md section 19). The memberships live on the user
document (app/auth/models.py), so the one lookup that authenticates a request also knows the caller's role."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from beanie import PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from app.core.roles import Role
from app.db.actors import Actor
from app.db.decimals import StoredDecimal
from app.db.indexes import sort_indexes
from app.db.outbox import OUTBOX_INDEX, PendingEvent
from app.db.repository import OwnedDocument, StoredAddress, TimestampedDocument


class ReminderRule(BaseModel):
    """A payment reminder (API.md section 23): e-mail the client of a sent, unpaid invoice this many days
    after its due date; a subject or message of its own, else the default text (mail/templates/texts.json)."""

    days_after_due: int
    subject: str | None = None
    message: str | None = None


class BusinessProfile(BaseModel):
    company_name: str | None = None
    address: StoredAddress | None = None
    tax_id: str | None = None
    tax_number: str | None = None
    email: str | None = None
    phone: str | None = None
    iban: str | None = None
    bic: str | None = None
    locale: str = "en"
    e_invoice: str = "none"
    default_currency: str = "USD"
    default_tax_rate: StoredDecimal = Decimal("0")
    payment_terms_days: int = 30
    invoice_prefix: str = "INV-"
    time_zone: str = "UTC"
    credit_note_prefix: str = "CN-"
    # Ordered by days_after_due, each day once (at most MAX_REMINDERS rules).
    reminders: list[ReminderRule] = Field(default_factory=list)


class OwnerLock(BaseModel):
    id: PydanticObjectId
    until: datetime


class Organization(TimestampedDocument):
    """A personal organisation has its user's id: the user's documents, stored with `owner_id` = user id
    before organisations existed, belong to it without a write."""

    name: str
    personal: bool = False
    business: BusinessProfile = Field(default_factory=BusinessProfile)
    # Where documents and e-mails point when the profile names no e-mail: its creator's address.
    contact_email: str | None = None
    created_by: Actor | None = None
    # `organization.updated` events, written with the change (db/outbox.py).
    outbox: list[PendingEvent] = Field(default_factory=list)
    # Set by POST /api/organizations until its creator has joined (`joining_at`), and by DELETE until every
    # membership is gone (`deleting_at`): the worker's recovery finishes or undoes what a crash cut short.
    joining_at: datetime | None = None
    deleting_at: datetime | None = None
    # Held while a change that involves an owner runs (members.py): such changes of one organisation run
    # one at a time, so two owners demoting each other cannot both count the other as the one left.
    owner_lock: OwnerLock | None = None

    class Settings:
        name = "organizations"
        indexes = [
            IndexModel([("created_by.id", ASCENDING), ("personal", ASCENDING)], name="creator_personal"),
            OUTBOX_INDEX,
            IndexModel([("joining_at", ASCENDING)], name="joining_at", sparse=True),
            IndexModel([("deleting_at", ASCENDING)], name="deleting_at", sparse=True),
            # The reminders pass reads the organisations that have rules, not all of them (a profile without
            # rules has no key on this path, so the sparse index leaves it out).
            IndexModel(
                [("business.reminders.days_after_due", ASCENDING)], name="reminder_rules", sparse=True
            ),
        ]


class Invitation(OwnedDocument):
    """An invitation to join the organisation `owner_id`. The token e-mailed is derived from its random
    salt and the server's secret (invitations.py), so it is never stored: only its SHA-256 hash, which
    accepting looks up."""

    email: str
    role: Role
    status: Literal["pending", "accepted", "revoked"] = "pending"
    expires_at: datetime
    token_hash: str
    # With the server's secret, what the e-mailed token is derived from (invitations.token_of).
    salt: str
    invited_by: PydanticObjectId | None = None
    accepted_by: PydanticObjectId | None = None
    # Set once the accepting user joined: from then on the token is spent for good, even for them (a retry
    # of an accept cut short between its claim and its join resumes only while this is unset).
    joined_at: datetime | None = None
    # False until its e-mail's job is queued: the recovery queues it for an invitation whose request died.
    mailed: bool = False

    class Settings:
        name = "invitations"
        indexes = [
            IndexModel([("token_hash", ASCENDING)], name="token_hash_unique", unique=True),
            *sort_indexes("created_at"),
            IndexModel(
                [("mailed", ASCENDING), ("created_at", ASCENDING)],
                name="unmailed",
                partialFilterExpression={"mailed": False},
            ),
            OUTBOX_INDEX,
        ]


class Books(Protocol):
    """Whose books a service works on: the organisation's id (every document's `owner_id`), its name and
    profile. An `Organization` is one (the worker loads it), and so is the request's `Caller`."""

    @property
    def id(self) -> Any: ...

    @property
    def name(self) -> str: ...

    @property
    def business(self) -> BusinessProfile: ...

    @property
    def contact_email(self) -> str | None: ...
