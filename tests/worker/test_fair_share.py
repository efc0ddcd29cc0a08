"""API.md section 24: the owners of due jobs take turns at a worker's slots, so one owner's backlog delays
another owner's next job by one job per slot, never by the backlog. Order is proven by the order in which
handlers start, never by time."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from bson import ObjectId

from app.worker import enqueue, jobs, register_handler
from app.worker.models import Job

WAIT = 30  # a bound on waiting for an event that the worker must bring about, not a measurement


class Gated:
    """A handler that records each start (`payload["who"]`) and holds its job until the test opens it."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._gates: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()

    async def __call__(self, payload: dict[str, Any]) -> None:
        self.started.append(payload["who"])
        self._changed.set()
        await self._gate(payload["who"]).wait()

    def _gate(self, who: str) -> asyncio.Event:
        return self._gates.setdefault(who, asyncio.Event())

    def open(self, *who: str) -> None:
        for name in who:
            self._gate(name).set()

    def open_all(self) -> None:
        for gate in self._gates.values():
            gate.set()

    async def until_started(self, count: int) -> None:
        async def started() -> None:
            while len(self.started) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(started(), WAIT)


def _owners() -> tuple[ObjectId, ObjectId]:
    first = ObjectId()
    return first, ObjectId()  # ids made later are greater: the owners' order in the rotation is known


async def test_owners_take_turns_and_each_owners_jobs_run_oldest_first(make_worker):
    order: list[str] = []

    async def handler(payload: dict[str, Any]) -> None:
        order.append(payload["who"])

    register_handler("test.turns", handler)
    a, b = _owners()
    for n in range(3):
        await enqueue("test.turns", {"who": f"a{n}"}, owner_id=a)
    for n in range(3):
        await enqueue("test.turns", {"who": f"b{n}"}, owner_id=b)
    for n in range(2):
        await enqueue("test.turns", {"who": f"none{n}"})  # no owner: a turn of its own

    await make_worker(concurrency=1).run_until_idle()

    # Jobs without owner come first in the index's order, then the owners by id; each owner's oldest first.
    assert order == ["none0", "a0", "b0", "none1", "a1", "b1", "a2", "b2"]


async def test_a_backlog_delays_another_owners_job_by_one_job_per_slot(make_worker):
    gated = Gated()
    register_handler("test.gated", gated)
    a, b = _owners()
    backlog = [f"a{n}" for n in range(50)]
    for who in backlog:
        await enqueue("test.gated", {"who": who}, owner_id=a)
    worker = make_worker(concurrency=4)
    running = asyncio.create_task(worker.run())
    await gated.until_started(4)  # A's backlog holds every slot
    await enqueue("test.gated", {"who": "b"}, owner_id=b)

    gated.open("a0")  # the first place that frees goes to B, not to A's 46 others
    await gated.until_started(5)

    assert gated.started == ["a0", "a1", "a2", "a3", "b"]
    gated.open_all()
    worker.stop()
    await running


async def test_a_full_group_keeps_the_turn_so_the_groups_next_place_goes_to_the_next_owner(make_worker):
    gated = Gated()
    register_handler("test.grouped", gated, group_limit=1)
    a, b = _owners()
    for n in range(5):
        await enqueue("test.grouped", {"who": f"a{n}"}, owner_id=a, group="smtp-like")
    await enqueue("test.grouped", {"who": "b"}, owner_id=b, group="smtp-like")
    worker = make_worker(concurrency=2)  # a free slot keeps claiming while the group is full
    running = asyncio.create_task(worker.run())
    await gated.until_started(1)

    gated.open("a0")
    await gated.until_started(2)

    assert gated.started == ["a0", "b"]
    gated.open_all()
    worker.stop()
    await running


async def test_a_job_enqueued_before_owners_took_turns_still_runs(worker):
    ran: list[str] = []

    async def handler(payload: dict[str, Any]) -> None:
        ran.append(payload["who"])

    register_handler("test.legacy", handler)
    old = await enqueue("test.legacy", {"who": "old"})
    await Job.get_motor_collection().update_one({"_id": old}, {"$unset": {"owner_id": ""}})  # no such field
    a, b = _owners()
    await enqueue("test.legacy", {"who": "a"}, owner_id=a)
    await enqueue("test.legacy", {"who": "b"}, owner_id=b)

    await worker.run_until_idle()

    assert sorted(ran) == ["a", "b", "old"]
    found = await jobs.get(old)
    assert found is not None and found["status"] == "succeeded" and "owner_id" not in found


async def test_two_workers_take_each_job_of_every_owner_once(make_worker):
    ran: list[str] = []

    async def handler(payload: dict[str, Any]) -> None:
        await asyncio.sleep(0)  # let the other worker claim meanwhile
        ran.append(payload["who"])

    register_handler("test.shared", handler)
    owners = [ObjectId() for _ in range(3)]
    expected = []
    for n in range(10):
        for i, owner in enumerate(owners):
            expected.append(f"{i}-{n}")
            await enqueue("test.shared", {"who": f"{i}-{n}"}, owner_id=owner)

    await asyncio.gather(*(make_worker(concurrency=3).run_until_idle() for _ in range(2)))

    assert sorted(ran) == sorted(expected), f"run twice or never: {Counter(ran) - Counter(expected)}"
    finished = Job.get_motor_collection().find({"kind": "test.shared"})
    assert {(job["status"], job["attempts"]) async for job in finished} == {("succeeded", 1)}
