from __future__ import annotations

from beanie import PydanticObjectId

from app.db.decimals import StoredDecimal
from app.db.indexes import owner_index, sort_indexes
from app.db.outbox import OUTBOX_INDEX
from app.db.repository import DELETING_INDEX, ReferencedDocument

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
            *sort_indexes("name", "status", "hourly_rate_cents", "created_at", "updated_at"),
            owner_index("owner_client", "client_id"),
            DELETING_INDEX,
            OUTBOX_INDEX,
        ]
