"""The sequencer: gives relayed events their feed position, a gap-free `seq`, one holder at a time.

Event ids are made by many concurrent writers and their inserts commit in any order, so neither ids nor
timestamps can be a cursor: a poller that read id 7 may later see id 6 commit. Instead one sequencer at a
time (a lease on the state document, taken by one atomic update) numbers the relayed events 1, 2, 3, ... and
then raises the published watermark with `$max`. Readers read the watermark first and only events with
`seq <= watermark`: every one of those was written (and acknowledged) before the watermark was, so a reader
that starts after reading it sees all of them, and a cursor (`seq > last seen`) never skips or repeats.

Why numbers stay unique and gap-free even if a lease expires while its holder still runs: `seq` has a
unique index; each number is `n + 1` where `n` was read from the events themselves (or was written by this
same round just before), and a number is written only on an event still unsequenced. A stale holder's
write either fails on the unique index or finds its event already numbered, and it stops its round there.
A round that dies before publishing leaves numbers above the watermark; the next round starts from the
highest stored number and publishes it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
import weakref
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.core.clock import utc_now
from app.events.models import events_collection, sequence_collection

log = logging.getLogger("orbix.events")

STATE_ID = "events"
LEASE = timedelta(seconds=30)
BATCH = 500


def _events() -> Any:
    return events_collection()


def _state() -> Any:
    return sequence_collection()


async def published() -> int:
    """The watermark: every event with seq up to it is stored and visible."""
    state = await _state().find_one({"_id": STATE_ID}, {"published": 1})
    return int(state["published"]) if state else 0


async def _acquire(holder: str) -> dict[str, Any] | None:
    now = utc_now()
    try:
        state: dict[str, Any] | None = await _state().find_one_and_update(
            {"_id": STATE_ID, "$or": [{"holder": None}, {"lease_until": {"$lt": now}}, {"holder": holder}]},
            {"$set": {"holder": holder, "lease_until": now + LEASE}, "$setOnInsert": {"published": 0}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:  # the state document exists and another holder's lease is running
        return None
    return state


async def _release(holder: str) -> None:
    await _state().update_one({"_id": STATE_ID, "holder": holder}, {"$set": {"holder": None}})


async def _highest_seq() -> int:
    top = await _events().find_one({"seq": {"$exists": True}}, {"seq": 1}, sort=[("seq", DESCENDING)])
    return int(top["seq"]) if top else 0


async def sequence_round(holder: str) -> int:
    """Number every relayed event not yet numbered, publish, and return how many were numbered; 0 when
    another holder has the lease (it will number them)."""
    state = await _acquire(holder)
    if state is None:
        return 0
    numbered = 0
    try:
        last = max(int(state.get("published", 0)), await _highest_seq())
        while True:
            batch = (
                await _events()
                .find({"pending": True}, {"_id": 1})
                .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
                .limit(BATCH)
                .to_list(length=BATCH)
            )
            if not batch or not await _number(batch, last):
                break
            last += len(batch)
            numbered += len(batch)
        await _state().update_one({"_id": STATE_ID}, {"$max": {"published": last}})
    finally:
        await _release(holder)
    return numbered


async def _number(batch: list[dict[str, Any]], last: int) -> bool:
    """Number `batch` from last + 1 on; False (stop the round) as soon as another sequencer interfered."""
    for offset, event in enumerate(batch, start=1):
        try:
            result = await _events().update_one(
                {"_id": event["_id"], "pending": True},
                {"$set": {"seq": last + offset}, "$unset": {"pending": ""}},
            )
        except DuplicateKeyError:
            return False
        if result.modified_count != 1:
            return False
        # keep the numbers written so far: the caller publishes only complete batches
    return True


class _Flight:
    """The round in progress on one event loop, and the callers waiting for the next one."""

    def __init__(self) -> None:
        self.waiters: list[asyncio.Future[None]] = []
        self.task: asyncio.Task[None] | None = None


class Sequencer:
    """One per process. `kick()` returns once a round that started after the call has finished, and
    batches concurrent callers into shared rounds (single flight), so a request can wait for its event to be
    in the feed without every request running its own round. State is kept per event loop (a test client
    may run the app on a loop of its own, in another thread)."""

    def __init__(self) -> None:
        self.holder = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flight] = (
            weakref.WeakKeyDictionary()
        )

    async def kick(self) -> None:
        loop = asyncio.get_running_loop()
        flight = self._flights.setdefault(loop, _Flight())
        waiter: asyncio.Future[None] = loop.create_future()
        flight.waiters.append(waiter)
        if flight.task is None or flight.task.done():
            flight.task = loop.create_task(self._drain(flight))
        await asyncio.shield(waiter)

    async def _drain(self, flight: _Flight) -> None:
        while flight.waiters:
            waiters, flight.waiters = flight.waiters, []
            try:
                await sequence_round(self.holder)
            except Exception:  # best effort: the periodic round numbers what this one could not
                log.exception("event sequencing round failed")
            finally:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

    async def run(self) -> int:
        """One round now (the periodic safety net)."""
        return await sequence_round(self.holder)


SEQUENCER = Sequencer()
