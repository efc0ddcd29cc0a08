from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from beanie import Indexed
from pydantic import BaseModel, Field

from app.core.documents import StoredAddress, TimestampedDocument
from app.core.money import StoredDecimal


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
    email: Indexed(str, unique=True)  # type: ignore[valid-type]
    name: str
    password_hash: str
    # Bumped by logout and change-password: every token carrying an older `ver` is refused.
    token_version: int = 0
    business: BusinessProfile = Field(default_factory=BusinessProfile)
    # When current_password was last checked by change-password (newest five, a right guess removed).
    password_failures: list[datetime] = Field(default_factory=list)

    class Settings:
        name = "users"
