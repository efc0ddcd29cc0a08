from __future__ import annotations

from datetime import date, datetime

from beanie import PydanticObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.documents import OwnedDocument
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
            IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("owner_id", ASCENDING), ("client_id", ASCENDING)]),
            IndexModel([("owner_id", ASCENDING), ("project_id", ASCENDING)]),
            IndexModel([("owner_id", ASCENDING), ("status", ASCENDING)]),
            OUTBOX_INDEX,
        ]
