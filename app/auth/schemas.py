from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.auth.models import User
from app.auth.sessions import Session as SessionDocument
from app.auth.tokens import IssuedToken
from app.core.identifiers import bic, iban
from app.core.money import check_rate, format_rate
from app.core.time_zones import TimeZone, time_zone
from app.db.pagination import Page
from app.http.mapping import GIVEN, Mapped, Source
from app.http.schemas import (
    Address,
    AddressOut,
    BaseStruct,
    Currency,
    RateOut,
    ResponseStruct,
    component,
    not_blank,
)
from app.organizations.models import BusinessProfile, Organization, ReminderRule

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


MAX_REMINDERS = 5


class ReminderRuleIn(BaseStruct):
    """E-mail the client of a sent, unpaid invoice `days_after_due` days after its due date (in the
    organisation's time zone). Without `subject` or `message`, the default text of the business locale."""

    days_after_due: Annotated[int, msgspec.Meta(ge=0, le=365)]
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)] | None = None


class ReminderRuleOut(ResponseStruct, Mapped):
    days_after_due: int
    subject: str | None
    message: str | None

    SOURCE = Source(ReminderRule)


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
    credit_note_prefix: InvoicePrefix | UnsetType = UNSET
    time_zone: TimeZone | UnsetType = UNSET
    # Payment reminders (API.md section 23): `[]` removes them all; each day once (organizations/service.py).
    reminders: Annotated[list[ReminderRuleIn], msgspec.Meta(max_length=MAX_REMINDERS)] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if isinstance(self.time_zone, str):
            self.time_zone = time_zone(self.time_zone, "business.time_zone")
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
    credit_note_prefix: str
    time_zone: str
    reminders: list[ReminderRuleOut]

    SOURCE = Source(BusinessProfile, default_tax_rate=format_rate)


class UserOut(ResponseStruct, Mapped):
    """`business` is the profile of the organisation the request acts in (API.md section 19)."""

    id: str
    email: str
    name: str
    email_verified: bool
    default_organization_id: str | None
    business: BusinessOut
    created_at: datetime
    updated_at: datetime
    # Present when a session cookie authenticated the request: a reloaded page gets it back (section 20).
    csrf_token: str | UnsetType = UNSET

    SOURCE = Source(User, default_organization_id=str, business=GIVEN, csrf_token=GIVEN)

    @classmethod
    def of(cls, user: User, organization: Organization, csrf_token: str | None = None) -> UserOut:
        return cls.from_document(
            user,
            business=BusinessOut.from_document(organization.business),
            csrf_token=UNSET if csrf_token is None else csrf_token,
        )


class SessionKind(StrEnum):
    """How a login's session is carried: a bearer token in the answer, or an HttpOnly cookie (section 20)."""

    BEARER = "bearer"
    COOKIE = "cookie"


class RegisterIn(BaseStruct):
    email: Email
    password: Password
    name: Name
    session: SessionKind = SessionKind.BEARER

    def __post_init__(self) -> None:
        check_password(self.password, "password")
        self.name = not_blank(self.name, "name")


class LoginIn(BaseStruct):
    email: Email
    password: Password
    session: SessionKind = SessionKind.BEARER


class ProfileUpdate(BaseStruct):
    name: Name | UnsetType = UNSET
    business: BusinessUpdate | UnsetType = UNSET
    default_organization_id: Annotated[str, msgspec.Meta(max_length=64)] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.name is not UNSET:
            self.name = not_blank(self.name, "name")


class ChangePasswordIn(BaseStruct):
    current_password: Password
    new_password: Password

    def __post_init__(self) -> None:
        check_password(self.new_password, "new_password")


OneTimeToken = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class PasswordResetIn(BaseStruct):
    email: Email


class PasswordResetConfirmIn(BaseStruct):
    token: OneTimeToken
    new_password: Password

    def __post_init__(self) -> None:
        check_password(self.new_password, "new_password")


class VerifyEmailIn(BaseStruct):
    token: OneTimeToken


class Accepted(ResponseStruct):
    """A 202: the request is taken; what it causes (an e-mail) happens in the background, or not, unsaid."""

    status: Literal["accepted"] = "accepted"


class Session(ResponseStruct):
    """A signed-in answer: a bearer session carries `access_token`; a cookie session does not (the token is
    in the HttpOnly cookie) and carries `csrf_token` instead, for the `X-CSRF-Token` header."""

    user: UserOut
    token_type: str
    expires_at: datetime
    access_token: str | UnsetType = UNSET
    csrf_token: str | UnsetType = UNSET

    @classmethod
    def issued(
        cls, user: User, organization: Organization, token: IssuedToken, csrf_token: str | None
    ) -> Session:
        return cls(
            user=UserOut.of(user, organization),
            token_type="bearer",  # noqa: S106 - the OAuth token type, not a secret
            expires_at=token.expires_at,
            access_token=token.access_token if csrf_token is None else UNSET,
            csrf_token=csrf_token if csrf_token is not None else UNSET,
        )


class DeviceSessionOut(ResponseStruct, Mapped):
    """One login: a device the user is signed in on."""

    id: str
    user_agent: str | None
    ip: str | None
    created_at: datetime
    last_active_at: datetime
    expires_at: datetime
    current: bool

    SOURCE = Source(SessionDocument, current=GIVEN)


DeviceSessionPage = Annotated[Page[DeviceSessionOut], component("DeviceSessionPage")]
