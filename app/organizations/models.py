"""Organisations: the books an agency keeps together (API.md section 19). The memberships live on the user
document (app/auth/models.py), so the one lookup that authenticates a request also knows the caller's role."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from app.db.actors import Actor
from app.db.decimals import StoredDecimal
from app.db.repository import StoredAddress, TimestampedDocument


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


class Organization(TimestampedDocument):
    """A personal organisation has its user's id: the user's documents, stored with `owner_id` = user id
    before organisations existed, belong to it without a write."""

    name: str
    personal: bool = False
    business: BusinessProfile = Field(default_factory=BusinessProfile)
    # Where documents and e-mails point when the profile names no e-mail: its creator's address.
    contact_email: str | None = None
    created_by: Actor | None = None

    class Settings:
        name = "organizations"
        indexes = [
            IndexModel([("created_by.id", ASCENDING), ("personal", ASCENDING)], name="creator_personal")
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
