from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from app.contracts.models import Contract
from app.core.clock import check_date_order
from app.core.money import check_money
from app.db.pagination import Page
from app.http.mapping import Mapped, Source, cents
from app.http.schemas import BaseStruct, Currency, MoneyOut, ObjectIdStr, ResponseStruct, component, not_blank

ContractTitle = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ContractBody = Annotated[str, msgspec.Meta(max_length=100_000, description="Markdown")]
SignerName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ContractStatus(StrEnum):
    """draft → sent → signed, or cancelled."""

    DRAFT = "draft"
    SENT = "sent"
    SIGNED = "signed"
    CANCELLED = "cancelled"


class ContractCreate(BaseStruct):
    client_id: ObjectIdStr
    title: ContractTitle
    project_id: ObjectIdStr | None = None
    body: ContractBody = ""
    value: Decimal | None = None
    currency: Currency | None = None
    start_date: date | None = None
    end_date: date | None = None

    def __post_init__(self) -> None:
        self.title = not_blank(self.title, "title")
        if self.value is not None:
            check_money(self.value, "value")
        check_date_order(self.start_date, self.end_date, "start_date", "end_date")


class ContractUpdate(BaseStruct):
    """Only drafts can be edited; dates are checked against the stored ones too."""

    client_id: ObjectIdStr | UnsetType = UNSET
    project_id: ObjectIdStr | UnsetType | None = UNSET
    title: ContractTitle | UnsetType = UNSET
    body: ContractBody | UnsetType = UNSET
    value: Decimal | UnsetType | None = UNSET
    currency: Currency | UnsetType = UNSET
    start_date: date | UnsetType | None = UNSET
    end_date: date | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if self.title is not UNSET:
            self.title = not_blank(self.title, "title")
        if self.value is not UNSET and self.value is not None:
            check_money(self.value, "value")
        if self.start_date is not UNSET and self.end_date is not UNSET:
            check_date_order(self.start_date, self.end_date, "start_date", "end_date")


class ContractSign(BaseStruct):
    signed_by: SignerName

    def __post_init__(self) -> None:
        self.signed_by = not_blank(self.signed_by, "signed_by")


class ContractOut(ResponseStruct, Mapped):
    id: str
    client_id: str
    project_id: str | None
    title: str
    body: str
    value: MoneyOut | None
    currency: str
    start_date: date | None
    end_date: date | None
    status: ContractStatus
    sent_at: datetime | None
    signed_at: datetime | None
    signed_by: str | None
    created_at: datetime
    updated_at: datetime

    SOURCE = Source(Contract, client_id=str, project_id=str, value=cents("value_cents"))


ContractPage = Annotated[Page[ContractOut], component("ContractPage")]
