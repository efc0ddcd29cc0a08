from __future__ import annotations

from datetime import date, datetime

from beanie import PydanticObjectId

from app.db.indexes import owner_index, sort_indexes
from app.db.outbox import OUTBOX_INDEX
from app.db.repository import OwnedDocument

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
