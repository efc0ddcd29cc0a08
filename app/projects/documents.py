from __future__ import annotations

from beanie import PydanticObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.documents import DELETING_INDEX, ReferencedDocument
from app.core.money import StoredDecimal
from app.core.outbox import OUTBOX_INDEX

PROJECT_STATUSES = ("active", "completed", "archived")


class Project(ReferencedDocument):
    client_id: PydanticObjectId
    name: str
    description: str = ""
    status: str = "active"
    hourly_rate_cents: int = 0
    currency: str
    budget_hours: StoredDecimal | None = None

    class Settings:
        name = "projects"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("owner_id", ASCENDING), ("client_id", ASCENDING)]),
            IndexModel([("owner_id", ASCENDING), ("status", ASCENDING)]),
            DELETING_INDEX,
            OUTBOX_INDEX,
        ]
