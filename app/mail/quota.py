"""EMAIL_DAILY_LIMIT: every e-mail an owner causes counts once, however many recipients, over a rolling 24 h
(API.md section 24; the count itself is app/db/quota.py).

`count_email` is the one count, for every kind of e-mail (invoice e-mails now; reminders, invitations and
credit notes call it too). The request that asks for an e-mail takes its place (`admit_email`: 429 when
there is none, and nothing is recorded). The worker counts it again before each send: an e-mail that holds
its place goes; one that does not (queued before the limit was lowered, or by a schedule) takes a free
place, or stays queued until the window allows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.config import Settings
from app.core.errors import QuotaExceeded
from app.db import quota

EMAIL_DAILY_LIMIT = "EMAIL_DAILY_LIMIT"
WINDOW = timedelta(hours=24)


def daily_limit(settings: Settings) -> quota.RollingLimit:
    return quota.RollingLimit(EMAIL_DAILY_LIMIT, settings.email_daily_limit, WINDOW)


async def count_email(settings: Settings, owner_id: Any, email_id: Any) -> float | None:
    """Count the e-mail `email_id` against its owner's day (once, however often it is counted): None when it
    may go now, else the seconds until the window allows it."""
    return await quota.take(daily_limit(settings), owner_id, email_id)


async def give_back_email(settings: Settings, owner_id: Any, email_id: Any) -> None:
    """Un-count an e-mail whose request failed after it was counted."""
    await quota.give_back(daily_limit(settings), owner_id, email_id)


def over_the_limit(settings: Settings) -> str:
    return f"At most {settings.email_daily_limit} e-mails in any 24 hours"


async def admit_email(settings: Settings, owner_id: Any, email_id: Any) -> None:
    """The request side: count the e-mail, or 429 quota_exceeded with the seconds until the window allows."""
    wait = await count_email(settings, owner_id, email_id)
    if wait is not None:
        raise QuotaExceeded(EMAIL_DAILY_LIMIT, over_the_limit(settings), wait)
