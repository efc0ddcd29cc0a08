from __future__ import annotations

from decimal import Decimal

from beanie import Indexed
from pydantic import BaseModel, Field

from app.core.documents import TimestampedDocument
from app.core.money import StoredDecimal


class StoredAddress(BaseModel):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class BusinessProfile(BaseModel):
    company_name: str | None = None
    address: StoredAddress | None = None
    tax_id: str | None = None
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

    class Settings:
        name = "users"
