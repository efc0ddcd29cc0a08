"""The API keys' wire shapes (API.md section 20)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from app.api_keys.models import ApiKey
from app.core.scopes import EVERYTHING, KNOWN, Scope
from app.db.pagination import Page
from app.http.mapping import Mapped, Source
from app.http.schemas import ActorOut, BaseStruct, ResponseStruct, component, not_blank


class ApiKeyCreate(BaseStruct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    scopes: Annotated[
        list[Scope],
        msgspec.Meta(
            min_length=1,
            max_length=len(KNOWN),
            description="`<resource>:read` or `<resource>:write` (write implies read) for clients, projects, "
            "time_entries, invoices, contracts, resumes, reports, events, webhooks; or `*` alone",
        ),
    ]
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        self.name = not_blank(self.name, "name")
        if EVERYTHING in self.scopes and len(self.scopes) > 1:
            raise ValueError("scopes: `*` stands alone")
        self.scopes = sorted(set(self.scopes))


class ApiKeyFields(ResponseStruct):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_by: ActorOut | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    usage_count: int


class ApiKeyOut(ApiKeyFields, Mapped):
    SOURCE = Source(ApiKey)


class ApiKeyCreated(ApiKeyFields):
    """The answer to a create: the key itself, shown this once."""

    key: str

    @classmethod
    def of(cls, document: ApiKey, key: str) -> ApiKeyCreated:
        return cls(**msgspec.structs.asdict(ApiKeyOut.from_document(document)), key=key)


ApiKeyPage = Annotated[Page[ApiKeyOut], component("ApiKeyPage")]
