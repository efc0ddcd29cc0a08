from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.auth.models import BusinessProfile, User
from app.auth.tokens import IssuedToken
from app.core.identifiers import bic, iban
from app.core.money import check_rate, format_rate
from app.http.mapping import Mapped, Source
from app.http.schemas import Address, AddressOut, BaseStruct, Currency, RateOut, ResponseStruct, not_blank

MAX_PASSWORD_BYTES = 72  # bcrypt's limit; longer is refused rather than silently truncated

Email = Annotated[str, msgspec.Meta(max_length=254, examples=["ada@example.com"])]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="8 to 72 bytes in UTF-8")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
OptionalText = Annotated[str, msgspec.Meta(max_length=200)]
# Never ending with a digit, so that no two prefixes can make one number (`X1`+`0001` = `X`+`10001`).
InvoicePrefix = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(?:[A-Za-z0-9\-_/#]{0,15}[A-Za-z\-_/#])?$",
        description="0-16 of A-Z a-z 0-9 - _ / #, not ending with a digit",
        examples=["INV-"],
    ),
]


def check_password(value: str, field: str) -> None:
    size = len(value.encode("utf-8"))
    if size < 8:
        raise ValueError(f"{field}: must be at least 8 bytes")
    if size > MAX_PASSWORD_BYTES:
        raise ValueError(f"{field}: must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8")
    if "\x00" in value:
        raise ValueError(f"{field}: must not contain NUL characters")


Locale = Literal["en", "de", "fr"]


class EInvoice(StrEnum):
    """Whether sent invoices embed a Factur-X (EN 16931) e-invoice."""

    NONE = "none"
    FACTUR_X = "factur-x"


Phone = Annotated[str, msgspec.Meta(max_length=64)]
Identifier = Annotated[str, msgspec.Meta(max_length=64)]


class BusinessUpdate(BaseStruct):
    """Every field optional: what is sent replaces what is stored, the rest stays."""

    company_name: OptionalText | UnsetType | None = UNSET
    address: Address | UnsetType | None = UNSET
    tax_id: Identifier | UnsetType | None = UNSET
    tax_number: Identifier | UnsetType | None = UNSET
    email: Email | UnsetType | None = UNSET
    phone: Phone | UnsetType | None = UNSET
    iban: (
        Annotated[str, msgspec.Meta(max_length=64, examples=["DE89370400440532013000"])] | UnsetType | None
    ) = UNSET
    bic: Annotated[str, msgspec.Meta(max_length=16, examples=["COBADEFFXXX"])] | UnsetType | None = UNSET
    locale: Locale | UnsetType = UNSET
    e_invoice: EInvoice | UnsetType = UNSET
    default_currency: Currency | UnsetType = UNSET
    default_tax_rate: Decimal | UnsetType = UNSET
    payment_terms_days: Annotated[int, msgspec.Meta(ge=0, le=365)] | UnsetType = UNSET
    invoice_prefix: InvoicePrefix | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.default_tax_rate is not UNSET:
            check_rate(self.default_tax_rate, "default_tax_rate")
        if isinstance(self.iban, str):
            self.iban = iban(self.iban, "business.iban")
        if isinstance(self.bic, str):
            self.bic = bic(self.bic, "business.bic")


class BusinessOut(ResponseStruct, Mapped):
    company_name: str | None
    address: AddressOut | None
    tax_id: str | None
    tax_number: str | None
    email: str | None
    phone: str | None
    iban: str | None
    bic: str | None
    locale: str
    e_invoice: str
    default_currency: str
    default_tax_rate: RateOut
    payment_terms_days: int
    invoice_prefix: str

    SOURCE = Source(BusinessProfile, default_tax_rate=format_rate)


class UserOut(ResponseStruct, Mapped):
    id: str
    email: str
    name: str
    business: BusinessOut
    created_at: datetime
    updated_at: datetime

    SOURCE = Source(User)


class RegisterIn(BaseStruct):
    email: Email
    password: Password
    name: Name

    def __post_init__(self) -> None:
        check_password(self.password, "password")
        self.name = not_blank(self.name, "name")


class LoginIn(BaseStruct):
    email: Email
    password: Password


class ProfileUpdate(BaseStruct):
    name: Name | UnsetType = UNSET
    business: BusinessUpdate | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.name is not UNSET:
            self.name = not_blank(self.name, "name")


class ChangePasswordIn(BaseStruct):
    current_password: Password
    new_password: Password

    def __post_init__(self) -> None:
        check_password(self.new_password, "new_password")


class Session(ResponseStruct):
    user: UserOut
    access_token: str
    token_type: str
    expires_at: datetime

    @classmethod
    def issued(cls, user: User, token: IssuedToken) -> Session:
        return cls(
            user=UserOut.from_document(user),
            access_token=token.access_token,
            token_type="bearer",  # noqa: S106 - the OAuth token type, not a secret
            expires_at=token.expires_at,
        )
