"""Rolling-window quotas: at most `limit` uses per subject in any `window` (API.md section 24).

One document per (limit, subject) holds the uses that count, oldest first, never more than `limit` of them:
`{_id: "EMAIL_DAILY_LIMIT:<owner>", uses: [{id, at}], expires_at}`. A use is taken by ONE conditional update
on that document — "fewer than `limit` uses inside the window (the oldest kept one is outside it), and this
use holds no place yet" — which appends it and drops the oldest. MongoDB applies updates to one document one
at a time, so of any number of concurrent takers exactly as many as there are free places succeed, on any
number of processes. Every query is by `_id`.

A use has an id (an e-mail, a request's `new_id`): taking it again while it holds a place succeeds without
counting twice, so a retried request or a worker's second attempt at one e-mail counts once. After a limit
was lowered, the document may hold more uses than the new limit: only the newest `limit` count (the older
ones are dropped before the next take).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from app.core.clock import as_utc, utc_now

# A take runs its conditional update at most this often: once, then after trimming a lowered limit or
# after the document appeared or expired under it.
_TAKE_ATTEMPTS = 4


class QuotaWindow(Document):
    id: str  # type: ignore[assignment]  # "<the limit's setting>:<subject id>"
    uses: list[dict[str, Any]] = Field(default_factory=list)  # {id, at}, oldest first
    # Once every use is older than the window the document says nothing: MongoDB's TTL monitor removes it.
    expires_at: datetime

    class Settings:
        name = "quota_windows"
        indexes = [IndexModel([("expires_at", ASCENDING)], name="quota_windows_expire", expireAfterSeconds=0)]


@dataclass(frozen=True)
class RollingLimit:
    setting: str  # the setting's name: what a refusal names (EMAIL_DAILY_LIMIT)
    limit: int
    window: timedelta

    def key(self, subject: Any) -> str:
        return f"{self.setting}:{subject}"


def _windows() -> Any:
    return QuotaWindow.get_motor_collection()


async def take(rule: RollingLimit, subject: Any, use: Any) -> float | None:
    """Count `use` against `subject`'s window: None when it holds a place (taken now, or held already), else
    the seconds until the oldest counted use leaves the window (nothing is counted then)."""
    key, limit = rule.key(subject), rule.limit
    for _ in range(_TAKE_ATTEMPTS):
        now = utc_now()
        cutoff = now - rule.window
        taken = await _windows().update_one(
            {
                "_id": key,
                f"uses.{limit}": {"$exists": False},  # more than `limit` kept: a lowered limit, trimmed below
                "uses": {"$not": {"$elemMatch": {"id": use, "at": {"$gt": cutoff}}}},
                "$or": [{f"uses.{limit - 1}": {"$exists": False}}, {"uses.0.at": {"$lte": cutoff}}],
            },
            {
                "$push": {"uses": {"$each": [{"id": use, "at": now}], "$sort": {"at": 1}, "$slice": -limit}},
                "$set": {"expires_at": now + rule.window},
            },
        )
        if taken.matched_count:
            return None
        first = {"_id": key, "uses": [{"id": use, "at": now}], "expires_at": now + rule.window}
        try:  # no such document yet (or it did not match): the first use creates it, once
            await _windows().insert_one(first)
            return None
        except DuplicateKeyError:
            pass
        found = await _windows().find_one({"_id": key})
        if found is None:
            continue  # expired in between
        counted = found["uses"][-limit:]
        if any(u["id"] == use and as_utc(u["at"]) > cutoff for u in counted):
            return None
        if len(found["uses"]) > limit:
            await _windows().update_one({"_id": key}, {"$push": {"uses": {"$each": [], "$slice": -limit}}})
            continue
        wait = (as_utc(counted[0]["at"]) + rule.window - now).total_seconds()
        if len(counted) == limit and wait > 0:
            return wait
        # else a place is free (another first use created the document meanwhile): take it
    return 1.0  # the window kept changing under this take: not counted, try again shortly


async def give_back(rule: RollingLimit, subject: Any, use: Any) -> None:
    """Un-count `use`: what took the place was not accepted after all."""
    await _windows().update_one({"_id": rule.key(subject)}, {"$pull": {"uses": {"id": use}}})
