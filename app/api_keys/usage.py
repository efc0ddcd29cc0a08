"""`last_used_at` and `usage_count` of API keys without a store write per request (API.md section 20).

The authenticating middleware notes each use in this process's memory; a task of the API process flushes
every minute, one `$inc`/`$max` update per key used since the last flush, so a key is written at most once a
minute by each process (and once more when the process stops). `last_used_at` is kept to the minute. Counts
noted since the last flush are lost if the process crashes: an accepted cost of not writing per request.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId

from app.api_keys.models import ApiKey
from app.core.clock import utc_now

log = logging.getLogger("orbix.api_keys")
EVERY_SECONDS = 60.0


@dataclass
class Used:
    count: int
    last: datetime


class Usage:
    """The uses noted since the last flush, per key."""

    def __init__(self) -> None:
        self._pending: dict[ObjectId, Used] = {}

    def note(self, key_id: ObjectId, at: datetime | None = None) -> None:
        minute = (at or utc_now()).replace(second=0, microsecond=0)
        used = self._pending.get(key_id)
        if used is None:
            self._pending[key_id] = Used(1, minute)
        else:
            used.count += 1
            used.last = max(used.last, minute)

    @property
    def pending(self) -> dict[ObjectId, Used]:
        return dict(self._pending)

    async def flush(self) -> int:
        """Write what was noted, one update per key; what could not be written is kept for the next flush."""
        taken, self._pending = self._pending, {}
        collection = ApiKey.get_motor_collection()
        written = 0
        for key_id, used in taken.items():
            try:
                await collection.update_one(
                    {"_id": key_id},
                    {"$inc": {"usage_count": used.count}, "$max": {"last_used_at": used.last}},
                )
                written += 1
            except Exception:
                log.warning("API key %s: usage not written; kept for the next flush", key_id, exc_info=True)
                self._merge(key_id, used)
        return written

    def _merge(self, key_id: ObjectId, used: Used) -> None:
        now = self._pending.get(key_id)
        if now is None:
            self._pending[key_id] = used
        else:
            now.count += used.count
            now.last = max(now.last, used.last)

    async def run(self, every: float = EVERY_SECONDS) -> None:
        """Flush every `every` seconds until cancelled (the API's lifespan flushes once more as it stops)."""
        while True:
            await asyncio.sleep(every)
            await self.flush()
