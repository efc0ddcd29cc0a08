from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from app.clients.models import Client
from app.db.pagination import Page
from app.http.mapping import Mapped, Source
from app.http.schemas import Address, AddressOut, BaseStruct, Currency, ResponseStruct, component, not_blank

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


class ClientOut(ResponseStruct, Mapped):
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

    SOURCE = Source(Client)


ClientPage = Annotated[Page[ClientOut], component("ClientPage")]
