"""The inline worker's embedded-store operations, through the by-`_id` fast paths and through mongomock's own
code, side by side in one run: the delivery read, the job claim (find_one_and_update), the attempt recorded
($set and $push) and the job finished ($set and $push with $slice), over 3,000 jobs and deliveries shaped
like the worker's. Each is timed back to back and with the loop idle 1 ms between calls (as the worker's
steps come between the requests').

    .venv/bin/python scripts/bench_store_ops.py [--calls 500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mongomock import collection as mongomock_collection
from mongomock import helpers
from mongomock.collection import Collection
from pymongo import ReturnDocument

from app.core import embedded_store

SIZE = 3000


@contextlib.contextmanager
def mongomock_own_paths() -> Iterator[None]:
    """The by-`_id` operations, copies and datetime pass as mongomock ships them (the scans' fast paths
    stay)."""
    saved = (Collection._update, Collection.find_one, mongomock_collection.copy)
    saved_patch = helpers.patch_datetime_awareness_in_document
    Collection._update = embedded_store._mongomock_update  # type: ignore[method-assign]
    Collection.find_one = embedded_store._mongomock_find_one  # type: ignore[method-assign]
    mongomock_collection.copy = embedded_store.copying  # type: ignore[attr-defined]
    helpers.patch_datetime_awareness_in_document = embedded_store._mongomock_patch_datetime_awareness
    try:
        yield
    finally:
        Collection._update, Collection.find_one, mongomock_collection.copy = saved  # type: ignore[method-assign]
        helpers.patch_datetime_awareness_in_document = saved_patch


async def fill(database: Any) -> tuple[list[Any], list[Any]]:
    now = datetime.now(UTC)
    jobs, deliveries = database["jobs"], database["deliveries"]
    await jobs.create_index([("group", 1), ("dedupe_key", 1)], unique=True, sparse=True)
    job_ids, delivery_ids = [], []
    for n in range(SIZE):
        delivery = await deliveries.insert_one(
            {
                "owner_id": "o1", "endpoint_id": "e1", "event_id": f"evt_{n}", "event_type": "client.created",
                "status": "pending", "attempts": [], "next_attempt_at": None, "body": "x" * 400,
                "created_at": now, "updated_at": now,
            }
        )  # fmt: skip
        job = await jobs.insert_one(
            {
                "kind": "webhook.deliver", "status": "pending", "group": f"endpoint:{n % 7}",
                "dedupe_key": f"d{n}", "payload": {"delivery_id": str(delivery.inserted_id)}, "attempts": 0,
                "max_attempts": 8, "run_at": now, "lease_until": None, "worker_id": None, "log": [],
                "created_at": now, "updated_at": now,
            }
        )  # fmt: skip
        job_ids.append(job.inserted_id)
        delivery_ids.append(delivery.inserted_id)
    return job_ids, delivery_ids


def operations(
    database: Any, job_ids: list[Any], delivery_ids: list[Any]
) -> dict[str, Callable[[int], Awaitable[Any]]]:
    jobs, deliveries = database["jobs"], database["deliveries"]

    async def claim(n: int) -> Any:
        now = datetime.now(UTC)
        return await jobs.find_one_and_update(
            {"_id": job_ids[n], "kind": {"$in": ["webhook.deliver"]}, "$or": [
                {"status": "pending", "run_at": {"$lte": now}},
                {"status": "running", "lease_until": {"$lte": now}},
            ]},
            {"$set": {"status": "running", "worker_id": "w1", "lease_until": now + timedelta(seconds=60),
                      "updated_at": now}, "$inc": {"attempts": 1}},
            return_document=ReturnDocument.BEFORE,
        )  # fmt: skip

    async def read(n: int) -> Any:
        return await deliveries.find_one({"_id": delivery_ids[n]})

    async def record(n: int) -> Any:
        now = datetime.now(UTC)
        attempt = {"at": now, "status_code": 200, "duration_ms": 3, "error": None}
        return await deliveries.update_one(
            {"_id": delivery_ids[n]},
            {"$set": {"status": "succeeded", "next_attempt_at": None, "updated_at": now},
             "$push": {"attempts": attempt}},
        )  # fmt: skip

    async def finish(n: int) -> Any:
        now = datetime.now(UTC)
        return await jobs.update_one(
            {"_id": job_ids[n], "status": "running", "worker_id": "w1"},
            {"$set": {"status": "succeeded", "lease_until": None, "updated_at": now, "finished_at": now},
             "$push": {"log": {"$each": [{"at": now, "error": None}], "$slice": -20}}},
        )  # fmt: skip

    return {"claim": claim, "read": read, "record": record, "finish": finish}


async def timed(
    operation: Callable[[int], Awaitable[Any]], start: int, calls: int, gap: float
) -> tuple[float, float]:
    timings = []
    for n in range(start, start + calls):
        if gap:
            await asyncio.sleep(gap)
        started = time.perf_counter()
        await operation(n)
        timings.append(time.perf_counter() - started)
    timings.sort()
    return timings[len(timings) // 2] * 1e6, timings[int(len(timings) * 0.9)] * 1e6


async def main(calls: int) -> None:
    database = embedded_store.build_client()["bench"]
    job_ids, delivery_ids = await fill(database)
    ops = operations(database, job_ids, delivery_ids)
    print(
        "| operation | idle between calls | fast paths median / p90 µs | mongomock's median / p90 µs "
        "| ratio |"
    )
    print("|---|---:|---:|---:|---:|")
    start = 0
    for gap in (0.0, 0.001):
        for name, operation in ops.items():
            fast = await timed(operation, start, calls, gap)
            with mongomock_own_paths():
                own = await timed(operation, start + calls, calls, gap)
            print(
                f"| {name} | {gap * 1000:g} ms | {fast[0]:.0f} / {fast[1]:.0f} | {own[0]:.0f} / {own[1]:.0f} "
                f"| {own[0] / fast[0]:.2f} |"
            )
        start += 2 * calls


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=500)
    arguments = parser.parse_args()
    if 4 * arguments.calls > SIZE:
        parser.error(f"--calls at most {SIZE // 4}")
    asyncio.run(main(arguments.calls))
