"""API.md section 24 through the real worker, real deliveries and a real SMTP server: owner A's backlog of
deliveries to dead endpoints does not queue owner B's delivery nor B's invoice e-mail. Order is proven by
the order in which the attempts start, never by time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bson import ObjectId

from app.mail.service import JOB_KIND as EMAIL
from app.webhooks.delivery import Sender
from app.webhooks.jobs import DELIVER, PER_ENDPOINT_CONCURRENCY, DeliveryJob
from app.webhooks.models import WebhookEndpoint
from app.webhooks.service import new_secret
from app.worker import register_handler, registry
from app.worker.models import Job
from app.worker.process import WORKER_CONCURRENCY
from tests.conftest import register
from tests.jobs import new_worker
from tests.mail.factories import email_invoice, sent_invoice
from tests.webhooks.helpers import an_event, create_endpoint, deliveries
from tests.webhooks.receiver import DeadReceiver, Receiver

WAIT = 60  # a bound on waiting for what the worker must bring about, not a measurement
TIMEOUT = 1.0  # the delivery timeout: 1 s stands for production's 10 s, so that the test does not wait


class Starts:
    """Each attempt's start, in order, as tags (`delivery:<id>`, `email:<owner>`), and each one's end."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self._changed = asyncio.Event()

    def record(self, kind: str, tag: Callable[[dict[str, Any]], str]) -> None:
        """Run `kind`'s registered handler as it is, noting when each of its attempts starts and ends."""
        spec = registry.kind(kind)
        assert spec is not None

        async def recorded(payload: dict[str, Any]) -> None:
            self.started.append(tag(payload))
            try:
                await spec.handler(payload)
            finally:
                self.finished.append(tag(payload))
                self._changed.set()

        register_handler(kind, recorded, max_attempts=spec.max_attempts, group_limit=spec.group_limit)

    async def until_finished(self, tag: str) -> None:
        async def finished() -> None:
            while tag not in self.finished:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(finished(), WAIT)


async def _dead_endpoints(owner_id: str, dead: DeadReceiver) -> None:
    """30 endpoints of one owner, 20 subscribed to two types: 6 + 1 events make 30 x 6 + 20 = 200 deliveries.
    Written to the store: 30 is over the default per-organisation limit of endpoints (section 24), and it is
    the worker, not the endpoints' API, that is under test."""
    for i in range(30):
        events = ["invoice.paid", "invoice.sent"] if i < 20 else ["invoice.paid"]
        endpoint = WebhookEndpoint(
            owner_id=ObjectId(owner_id), url=dead.url(f"a/{i}"), events=events, secret=new_secret()
        )
        await endpoint.insert()
    for _ in range(6):
        await an_event(owner_id, "invoice.paid")
    await an_event(owner_id, "invoice.sent")


async def test_a_backlog_of_dead_deliveries_delays_another_owners_delivery_and_email_by_one_turn(
    mail_client, mailbox, settings
):
    a = await register(mail_client, "a@example.com", "Owner A")
    b = await register(mail_client, "b@example.com", "Owner B")
    invoice = await sent_invoice(mail_client, b.headers)
    dead, live = await DeadReceiver().start(), await Receiver().start()
    b_endpoint = await create_endpoint(mail_client, b.headers, live.url, ["invoice.paid"])
    await _dead_endpoints(a.id, dead)
    assert await Job.get_motor_collection().count_documents({"kind": DELIVER}) == 200

    sender = Sender(https_only=False, allow_private=True, timeout=TIMEOUT)
    register_handler(
        DELIVER, DeliveryJob(settings, sender), max_attempts=1000, group_limit=PER_ENDPOINT_CONCURRENCY
    )
    starts = Starts()
    starts.record(DELIVER, lambda payload: f"delivery:{payload['delivery_id']}")
    starts.record(EMAIL, lambda payload: f"email:{payload['owner_id']}")
    worker = new_worker(concurrency=WORKER_CONCURRENCY)  # python -m app worker's 16 slots
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(dead.until_arrivals(WORKER_CONCURRENCY), WAIT)  # A's attempts hold every slot

    await an_event(b.id, "invoice.paid")
    delivery_queued = len(starts.started)
    await email_invoice(mail_client, b.headers, invoice["id"])
    email_queued = len(starts.started)
    await asyncio.wait_for(live.arrived.wait(), WAIT)
    await starts.until_finished(f"email:{b.id}")
    worker.stop()
    await running

    [b_delivery] = await deliveries(mail_client, b.headers, b_endpoint["id"])
    assert b_delivery["status"] == "succeeded"
    [message] = mailbox.delivered
    assert message.rcpt_tos == ["ap@acme.example"]
    b_tags = {f"delivery:{b_delivery['id']}", f"email:{b.id}"}

    def a_started(since: int, tag: str) -> int:
        """A's attempts that started after position `since` and before `tag`'s."""
        return sum(1 for other in starts.started[since : starts.started.index(tag)] if other not in b_tags)

    # The claim under way when B's job was queued may take one of A's; the next place goes to B. Before the
    # owners took turns, every one of A's deliveries not yet attempted went first.
    assert a_started(delivery_queued, f"delivery:{b_delivery['id']}") <= 1
    # B's delivery, then A's turn, then B's e-mail.
    assert a_started(email_queued, f"email:{b.id}") <= 2
    assert dead.arrivals >= WORKER_CONCURRENCY and len(live.requests) == 1
    await sender.aclose()
    await live.stop()
    await dead.stop()
