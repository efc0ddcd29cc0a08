"""An API key as stored: its SHA-256 hash, never the key (API.md section 20)."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, IndexModel

from app.db.indexes import sort_indexes
from app.db.repository import OwnedDocument


class ApiKey(OwnedDocument):
    """A key of the organisation `owner_id`. The authenticating lookup finds it by `key_hash` (unique);
    `last_used_at` and `usage_count` are written by the usage flush (usage.py), not by each request."""

    name: str
    prefix: str  # the key's first 12 characters, shown in lists to tell keys apart
    scopes: list[str]
    key_hash: str
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    usage_count: int = 0

    class Settings:
        name = "api_keys"
        # A key never used has no `last_used_at` (rather than null): the flush's `$max` sets it on the
        # embedded store too, which compares no date with null.
        keep_nulls = False
        indexes = [
            IndexModel([("key_hash", ASCENDING)], name="key_hash_unique", unique=True),
            *sort_indexes("name", "created_at"),
        ]
