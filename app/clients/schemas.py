from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.clients.documents import Client
from app.core.schemas import (
    Address,
    AddressOut,
    BaseStruct,
    Currency,
    Page,
    ResponseStruct,
    component,
    not_blank,
    stored_fields,
)

ClientName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Contact = Annotated[str, msgspec.Meta(max_length=254)]
Notes = Annotated[str, msgspec.Meta(max_length=10_000)]
TermsDays = Annotated[int, msgspec.Meta(ge=0, le=365)]


class ClientCreate(BaseStruct):
    name: ClientName
    email: Contact | None = None
    company: Contact | None = None
    phone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    address: Address | None = None
    tax_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    currency: Currency | None = None
    payment_terms_days: TermsDays | None = None
    notes: Notes = ""

    def __post_init__(self) -> None:
        self.name = not_blank(self.name, "name")


class ClientUpdate(BaseStruct):
    name: ClientName | UnsetType = UNSET
    email: Contact | UnsetType | None = UNSET
    company: Contact | UnsetType | None = UNSET
    phone: Annotated[str, msgspec.Meta(max_length=64)] | UnsetType | None = UNSET
    address: Address | UnsetType | None = UNSET
    tax_id: Annotated[str, msgspec.Meta(max_length=64)] | UnsetType | None = UNSET
    currency: Currency | UnsetType = UNSET
    payment_terms_days: TermsDays | UnsetType = UNSET
    notes: Notes | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.name is not UNSET:
            self.name = not_blank(self.name, "name")


class ClientOut(ResponseStruct):
    id: str
    name: str
    email: str | None
    company: str | None
    phone: str | None
    address: AddressOut | None
    tax_id: str | None
    currency: str
    payment_terms_days: int
    notes: str
    created_at: datetime
    updated_at: datetime

    STORED: ClassVar[dict[str, Literal[1]]] = stored_fields(
        "name",
        "email",
        "company",
        "phone",
        "address",
        "tax_id",
        "currency",
        "payment_terms_days",
        "notes",
        "created_at",
        "updated_at",
    )

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> ClientOut:
        """What from_document gives, from the driver's document (a missing optional field reads as the Client
        model's default)."""
        return cls(
            id=str(raw["_id"]),
            name=raw["name"],
            email=raw.get("email"),
            company=raw.get("company"),
            phone=raw.get("phone"),
            address=AddressOut.from_raw(raw.get("address")),
            tax_id=raw.get("tax_id"),
            currency=raw["currency"],
            payment_terms_days=raw["payment_terms_days"],
            notes=raw.get("notes", ""),
            created_at=raw["created_at"],
            updated_at=raw["updated_at"],
        )

    @classmethod
    def from_document(cls, client: Client) -> ClientOut:
        return cls(
            id=str(client.id),
            name=client.name,
            email=client.email,
            company=client.company,
            phone=client.phone,
            address=AddressOut.from_stored(client.address),
            tax_id=client.tax_id,
            currency=client.currency,
            payment_terms_days=client.payment_terms_days,
            notes=client.notes,
            created_at=client.created_at,
            updated_at=client.updated_at,
        )


ClientPage = Annotated[Page[ClientOut], component("ClientPage")]
