from __future__ import annotations

from beanie import PydanticObjectId

from app.core.documents import ReferencedDocument
from app.core.indexes import owner_index, sort_indexes
from app.core.money import StoredDecimal

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
        ]
