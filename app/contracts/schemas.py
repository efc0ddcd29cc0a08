from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from app.contracts.documents import Contract
from app.core.clock import check_date_order
from app.core.money import check_money, format_cents
from app.core.schemas import (
    BaseStruct,
    Currency,
    MoneyOut,
    ObjectIdStr,
    Page,
    ResponseStruct,
    component,
    not_blank,
)

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


class ContractOut(ResponseStruct):
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

    @classmethod
    def from_document(cls, contract: Contract) -> ContractOut:
        return cls(
            id=str(contract.id),
            client_id=str(contract.client_id),
            project_id=str(contract.project_id) if contract.project_id else None,
            title=contract.title,
            body=contract.body,
            value=format_cents(contract.value_cents),
            currency=contract.currency,
            start_date=contract.start_date,
            end_date=contract.end_date,
            status=contract.status,  # type: ignore[arg-type]
            sent_at=contract.sent_at,
            signed_at=contract.signed_at,
            signed_by=contract.signed_by,
            created_at=contract.created_at,
            updated_at=contract.updated_at,
        )


ContractPage = Annotated[Page[ContractOut], component("ContractPage")]
