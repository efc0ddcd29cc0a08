from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from bson import ObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

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


class User(TimestampedDocument):
    email: str
    name: str
    password_hash: str
    # Bumped by logout and change-password: every token carrying an older `ver` is refused.
    token_version: int = 0
    business: BusinessProfile = Field(default_factory=BusinessProfile)
    # When current_password was last checked by change-password (newest five, a right guess removed).
    password_failures: list[datetime] = Field(default_factory=list)

    class Settings:
        name = "users"
        indexes = [IndexModel([("email", ASCENDING)], name="email_unique", unique=True)]


class Owner(Protocol):
    """What a route acting for the caller needs of them when it needs no profile: their id. A `User` is one,
    and so is a `Caller`."""

    @property
    def id(self) -> ObjectId | None: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller without their profile: what the auth middleware gives a route that does not
    ask for `current_user` (the token's version checked on a projection of the user, nothing validated)."""

    id: ObjectId
