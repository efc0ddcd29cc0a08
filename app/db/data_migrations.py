"""Data migrations that need to run once per database, not at every start: each is idempotent (a rerun after a
crash finds nothing left to do), and once it completed a marker document says so, so later starts skip its
scan (a query for documents *without* a field cannot use an index)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.errors import DuplicateKeyError

from app.core.clock import utc_now

MARKERS = "data_migrations"


async def once(database: Any, name: str, migration: Callable[[], Awaitable[Any]]) -> bool:
    """Run `migration` unless it completed on this database before; True when it ran now."""
    markers = database[MARKERS]
    if await markers.find_one({"_id": name}, {"_id": 1}) is not None:
        return False
    await migration()
    try:
        await markers.insert_one({"_id": name, "completed_at": utc_now()})
    except DuplicateKeyError:  # another process completed it at the same time: it is idempotent
        pass
    return True
