from __future__ import annotations

from datetime import datetime

from beanie import PydanticObjectId
from pymongo import ASCENDING, IndexModel

from app.db.indexes import owner_index, sort_index, sort_indexes
from app.db.outbox import OUTBOX_INDEX
from app.db.repository import OwnedDocument

RUNNING_SLOT = "running"


class TimeEntry(OwnedDocument):
    # The user who created it (None when an API key did, and on entries stored before it was recorded).
    user_id: PydanticObjectId | None = None
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
    # One running timer per user per organisation, enforced by a unique index on (owner_id, user_id,
    # timer_slot): a running entry holds the slot "running"; a stopped or manual one holds its own id. (A
    # partial unique index would do on MongoDB, but mongomock ignores partialFilterExpression, so this form is
    # right on both.)
    timer_slot: str

    class Settings:
        name = "time_entries"
        indexes = [
            owner_index("owner_timer_unique", "user_id", "timer_slot", unique=True),
            *sort_indexes("started_at", "created_at", "duration_seconds"),
            # One user's entries (the `user_id` filter), in the default order.
            sort_index("user_started_at", "user_id", "started_at"),
            owner_index("owner_project", "project_id"),
            # A project's entries joined to it (projects' GET: $lookup's foreignField alone).
            IndexModel([("project_id", ASCENDING)], name="project"),
            owner_index("owner_client", "client_id"),
            # An invoice's entries (and the count that confirms its claims, from the keys alone), and the
            # report's unbilled time: not invoiced, billable, of the currency's clients.
            owner_index("owner_invoice", "invoice_id", "billable", "client_id", "removed"),
            OUTBOX_INDEX,
        ]
