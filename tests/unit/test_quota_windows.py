"""app/db/quota.py: a rolling window counts each use once, refuses the one past the limit with the seconds
until a place frees, drops what a lowered limit no longer counts, and takes a place back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bson import ObjectId

from app.db import quota

WINDOW = timedelta(hours=1)


def _rule(limit: int) -> quota.RollingLimit:
    return quota.RollingLimit("TEST_LIMIT", limit, WINDOW)


async def _age(seconds: float) -> None:
    """Time travel: every counted use is `seconds` older."""
    windows = quota.QuotaWindow.get_motor_collection()
    async for window in windows.find({}):
        uses = [{**use, "at": use["at"] - timedelta(seconds=seconds)} for use in window["uses"]]
        await windows.update_one({"_id": window["_id"]}, {"$set": {"uses": uses}})


async def test_a_use_counts_once_and_the_one_past_the_limit_waits_for_the_oldest(client):
    subject, uses = ObjectId(), [ObjectId() for _ in range(4)]
    assert [await quota.take(_rule(3), subject, use) for use in uses[:3]] == [None] * 3
    assert await quota.take(_rule(3), subject, uses[0]) is None  # held already: not counted again
    wait = await quota.take(_rule(3), subject, uses[3])
    assert wait is not None and 0 < wait <= WINDOW.total_seconds()
    assert await quota.take(_rule(3), ObjectId(), uses[3]) is None  # another subject, another window

    await _age(WINDOW.total_seconds() + 1)
    assert await quota.take(_rule(3), subject, uses[3]) is None


async def test_concurrent_first_uses_all_count(client):
    subject = ObjectId()
    taken = await asyncio.gather(*(quota.take(_rule(5), subject, ObjectId()) for _ in range(8)))
    assert taken.count(None) == 5


async def test_a_lowered_limit_counts_only_the_newest_uses(client):
    subject, uses = ObjectId(), [ObjectId() for _ in range(4)]
    for use in uses:
        assert await quota.take(_rule(4), subject, use) is None
        await _age(1)  # each use a second older than the next
    assert await quota.take(_rule(2), subject, uses[3]) is None  # among the newest two
    assert await quota.take(_rule(2), subject, uses[0]) is not None  # no longer counted, and no room
    found = await quota.QuotaWindow.get_motor_collection().find_one({"_id": _rule(2).key(subject)})
    assert [use["id"] for use in found["uses"]] == uses[2:]


async def test_a_place_given_back_is_free_again(client):
    subject, first, second = ObjectId(), ObjectId(), ObjectId()
    assert await quota.take(_rule(1), subject, first) is None
    assert await quota.take(_rule(1), subject, second) is not None
    await quota.give_back(_rule(1), subject, first)
    assert await quota.take(_rule(1), subject, second) is None
