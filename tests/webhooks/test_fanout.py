"""The fan-out: every event of the feed becomes one delivery per subscribed enabled endpoint of its owner,
exactly once, even while many requests write and two fan-out runners overlap (a lease that expired under a
slow runner). Writers run through the app in one event loop on the yielding store."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from bson import ObjectId
from standardwebhooks import Webhook

from app.background import register_jobs
from app.db import outbox
from app.events import emit
from app.events.relay import relay
from app.webhooks.fanout import fan_out
from app.webhooks.models import WebhookDelivery
from tests.clients.factories import create_client
from tests.events.helpers import poll_all
from tests.events.test_concurrent_feed import WRITES_EACH, jittery_store
from tests.events.test_concurrent_feed import _writer as writer
from tests.webhooks.helpers import an_event, create_endpoint, deliveries
from tests.webhooks.receiver import Receiver

__all__ = ["jittery_store"]

WRITERS = 8


async def _fan_out_until(done: asyncio.Event) -> None:
    while not done.is_set():
        await fan_out()
        await asyncio.sleep(0)


async def test_each_event_becomes_one_delivery_per_subscribed_endpoint_under_concurrent_writers(
    client, user, other_user, worker, jittery_store
):
    everything, created_only = await Receiver().start(), await Receiver().start()
    others = await Receiver().start()
    all_endpoint = await create_endpoint(client, user.headers, everything.url, ["*"])
    created_endpoint = await create_endpoint(client, user.headers, created_only.url, ["client.created"])
    other_endpoint = await create_endpoint(client, other_user.headers, others.url, ["*"])

    done = asyncio.Event()
    runners = [asyncio.create_task(_fan_out_until(done)) for _ in range(2)]  # two at once: a stale lease
    await asyncio.gather(
        *(writer(client, (user if i % 4 else other_user).headers, i) for i in range(WRITERS))
    )
    done.set()
    await asyncio.gather(*runners)
    await fan_out()

    mine = await poll_all(client, user.headers)
    theirs = await poll_all(client, other_user.headers)
    assert len(mine) == 6 * WRITES_EACH and len(theirs) == 2 * WRITES_EACH

    async def delivered(endpoint: dict[str, Any]) -> Counter[str]:
        found = WebhookDelivery.get_motor_collection().find({"endpoint_id": ObjectId(endpoint["id"])})
        return Counter([d["event_id"] async for d in found])

    async def expect(endpoint: dict[str, Any], events: list[dict[str, Any]]) -> None:
        counts = await delivered(endpoint)
        assert set(counts.values()) == {1}, "an event got two deliveries"
        assert sorted(counts) == sorted(e["id"] for e in events), "an event got no delivery, or a stranger's"

    await expect(all_endpoint, mine)
    await expect(created_endpoint, [e for e in mine if e["type"] == "client.created"])
    await expect(other_endpoint, theirs)

    await worker.run_until_idle()
    for receiver, endpoint, events in (
        (everything, all_endpoint, mine),
        (created_only, created_endpoint, [e for e in mine if e["type"] == "client.created"]),
        (others, other_endpoint, theirs),
    ):
        ids = [request.headers["webhook-id"] for request in receiver.requests]
        assert sorted(ids) == sorted(e["id"] for e in events), "a receiver got an event twice or not at all"
        for request in receiver.requests:
            Webhook(endpoint["secret"]).verify(request.body, request.headers)
        await receiver.stop()


async def test_an_api_write_reaches_the_receiver_through_the_workers_periodic_fan_out(client, user, worker):
    receiver = await Receiver().start()
    endpoint = await create_endpoint(client, user.headers, receiver.url, ["client.created"])
    acme = await create_client(client, user.headers, name="Acme")

    await worker.run_until_idle()  # runs the due periodic tasks (the fan-out), then the delivery jobs

    [request] = receiver.requests
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    [event] = await poll_all(client, user.headers, types="client.created")
    assert payload == event, "the body is the event as GET /api/events shows it"
    assert payload["data"]["object"]["id"] == acme["id"]
    [delivery] = await deliveries(client, user.headers, endpoint["id"])
    assert delivery["event_id"] == event["id"] and delivery["status"] == "succeeded"
    await receiver.stop()


async def test_an_endpoint_created_after_an_event_does_not_receive_it(client, user, worker):
    await create_client(client, user.headers, name="Before")
    receiver = await Receiver().start()
    endpoint = await create_endpoint(client, user.headers, receiver.url)
    await create_client(client, user.headers, name="After")
    await worker.run_until_idle()

    [request] = receiver.requests
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload["data"]["object"]["name"] == "After"
    await receiver.stop()


async def test_the_worker_process_relays_the_events_it_writes(settings):
    """`python -m app worker` calls register_jobs only (no API lifespan): it must install the relay, or a
    webhook_endpoint.disabled written by a worker would wait for the recovery pass."""
    saved = list(outbox._relay)
    outbox._relay.clear()
    try:
        register_jobs(settings)
        assert outbox._relay == [relay]
    finally:
        outbox._relay[:] = saved


async def test_a_fan_out_with_nothing_new_reads_no_events(client, user, monkeypatch):
    """The fan-out runs every second; with the cursor at the published watermark it asks nothing of the
    events (on the embedded store that read was a walk over every event: a 5 ms step each second)."""
    from app.events import service as events

    await an_event(user.id)  # emitted, sequenced and fanned out: the cursor is at the watermark
    reads: list[Any] = []
    real = events.events_collection

    class Counted:
        def __init__(self, collection: Any) -> None:
            self.collection = collection

        def find(self, *args: Any, **kwargs: Any) -> Any:
            reads.append(args)
            return self.collection.find(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.collection, name)

    monkeypatch.setattr(events, "events_collection", lambda: Counted(real()))
    await fan_out()
    assert reads == []
    await emit(ObjectId(user.id), "invoice.paid", {"id": str(ObjectId()), "number": "INV-0002"})
    await fan_out()
    assert len(reads) == 1  # something new: read once
