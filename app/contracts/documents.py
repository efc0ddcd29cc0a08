from __future__ import annotations

from datetime import date, datetime

from beanie import PydanticObjectId

from app.core.documents import OwnedDocument
from app.core.indexes import owner_index, sort_indexes
from app.core.outbox import OUTBOX_INDEX

CONTRACT_STATUSES = ("draft", "sent", "signed", "cancelled")


class Contract(OwnedDocument):
    client_id: PydanticObjectId
    project_id: PydanticObjectId | None = None
    title: str
    body: str = ""
    value_cents: int | None = None
    currency: str
    start_date: date | None = None
    end_date: date | None = None
    status: str = "draft"
    sent_at: datetime | None = None
    signed_at: datetime | None = None
    signed_by: str | None = None

    class Settings:
        name = "contracts"
        indexes = [
            *sort_indexes("created_at", "title", "start_date"),
            owner_index("owner_client", "client_id"),
            owner_index("owner_project", "project_id"),
            owner_index("owner_status", "status"),
            OUTBOX_INDEX,
        ]
