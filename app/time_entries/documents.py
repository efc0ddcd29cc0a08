from __future__ import annotations

from datetime import datetime

from beanie import PydanticObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.documents import OwnedDocument
from app.core.outbox import OUTBOX_INDEX

RUNNING_SLOT = "running"


class TimeEntry(OwnedDocument):
    project_id: PydanticObjectId
    client_id: PydanticObjectId
    description: str = ""
    started_at: datetime
    ended_at: datetime | None = None
    duration_seconds: int | None = None
    billable: bool = True
    # None: use the project's rate when invoicing.
    hourly_rate_cents: int | None = None
    invoice_id: PydanticObjectId | None = None
    # One running timer per user, enforced by a unique index on (owner_id, timer_slot): a running entry
    # holds the slot "running"; a stopped or manual one holds its own id. (A partial unique index would do
    # on MongoDB, but mongomock ignores partialFilterExpression, so this form is right on both.)
    timer_slot: str

    class Settings:
        name = "time_entries"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("timer_slot", ASCENDING)], unique=True),
            IndexModel([("owner_id", ASCENDING), ("started_at", DESCENDING)]),
            IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("owner_id", ASCENDING), ("project_id", ASCENDING)]),
            IndexModel([("owner_id", ASCENDING), ("client_id", ASCENDING)]),
            IndexModel([("owner_id", ASCENDING), ("invoice_id", ASCENDING)]),
            OUTBOX_INDEX,
        ]
