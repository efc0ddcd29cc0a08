"""A scheduler pass over 10,000 active schedules of which 100 are due costs a handful of store operations
(issue #30), not one per schedule: the candidates by one indexed query on `due_at`, their organisations' time
zones by one, the run jobs by one unordered insert. Counted at the store, as tests/system/test_round_trips.py
counts requests; that the query is served by the declared `due` index is checked by
tests/system/test_query_indexes.py, whose scenario runs a pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId

from app.core.clock import midnight_utc, using_clock
from app.recurring import jobs
from app.recurring.models import RecurringInvoice
from app.recurring.service import due_at
from app.worker.models import Job
from scripts import store_ops
from tests.recurring.helpers import clock_at, create_schedule, set_zone
from tests.system.index_use import indexes_by_collection, served, shape

TOTAL, DUE = 10_000, 100


async def test_a_pass_over_ten_thousand_schedules_costs_a_handful_of_operations(client, auth, other_user):
    with using_clock(clock_at("2027-03-01T12:00")) as business_clock:
        template = await create_schedule(client, auth, start_date="2027-03-02")
        await set_zone(client, other_user.headers, "Asia/Tokyo")
        theirs = await create_schedule(client, other_user.headers, start_date="2027-03-02")
        collection = RecurringInvoice.get_motor_collection()
        stored = {
            raw["_id"]: raw
            for raw in await collection.find(
                {"_id": {"$in": [ObjectId(template["id"]), ObjectId(theirs["id"])]}}
            ).to_list(None)
        }
        later, soon = datetime(2027, 6, 1).date(), datetime(2027, 3, 2).date()
        copies = []
        for n in range(TOTAL - 2):
            source = stored[ObjectId(theirs["id"] if n % 2 else template["id"])]
            # DUE - 2 more are due on 2 March (with the two made over HTTP); the rest in June
            day = soon if n < DUE - 2 else later
            copies.append(
                {
                    **source,
                    "_id": ObjectId(),
                    "next_run_on": midnight_utc(day),
                    "due_at": due_at(day),
                    "outbox": [],
                }
            )
        await collection.insert_many(copies)
        # 2 March has begun in Tokyo (UTC+9) at 15:00 UTC on 1 March, not yet in UTC: only Tokyo's are due.
        business_clock.set(datetime(2027, 3, 1, 15, 0, tzinfo=UTC))
        tally = store_ops.Tally()
        with store_ops.counting():
            token = store_ops._tally.set(tally)
            try:
                queued = await jobs.schedule_due_runs()
            finally:
                store_ops._tally.reset(token)
        tokyo = DUE // 2
        assert queued == tokyo
        assert tally.operations == [
            "recurring_invoices.find",
            "organizations.find",
            "jobs.insert_many",
        ]
        business_clock.set(datetime(2027, 3, 2, 0, 0, tzinfo=UTC))
        assert await jobs.schedule_due_runs() == DUE - tokyo  # the others now; Tokyo's are queued already
        assert await Job.get_motor_collection().count_documents({"kind": jobs.JOB_KIND}) == DUE


def test_the_passs_query_is_served_by_an_index():
    specs = indexes_by_collection()["recurring_invoices"]
    query = {"due_at": {"$lte": datetime.now(UTC) + timedelta(days=1)}}
    assert served(specs, shape(query), (("due_at", 1), ("_id", 1)))
