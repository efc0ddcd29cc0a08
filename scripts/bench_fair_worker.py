"""How long does one owner's webhook delivery wait behind another owner's backlog? (API.md section 24.)

One worker with the production's 16 slots, on the embedded store, real deliveries over loopback. Owner A has
30 dead endpoints (a server that accepts each request and never answers) and 200 queued deliveries; once A's
attempts fill every slot, owner B queues one delivery to a receiver that answers at once. Prints how long B's
delivery waited (from its queueing to its arrival at B's receiver) and how many of A's attempts began in the
meantime. An attempt at a dead endpoint ends after the delivery timeout (`--timeout`, production's 10 s).
  .venv/bin/python scripts/bench_fair_worker.py [--timeout 10] [--slots 16]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS, SUBSCRIBED_TO_BOTH, PAID_EVENTS = 30, 20, 6  # 30 x 6 + 20 x 1 = 200 deliveries


async def endpoint(owner_id: Any, url: str, events: list[str]) -> None:
    from app.webhooks.models import WebhookEndpoint
    from app.webhooks.service import new_secret

    await WebhookEndpoint(owner_id=owner_id, url=url, events=events, secret=new_secret()).insert()


async def main(delivery_timeout: float, slots: int) -> None:
    from bson import ObjectId
    from prometheus_client import CollectorRegistry

    from app.config import Settings
    from app.db.client import Database
    from app.events import emit
    from app.main import DOCUMENT_MODELS
    from app.webhooks.delivery import Sender
    from app.webhooks.fanout import fan_out
    from app.webhooks.jobs import DELIVER, PER_ENDPOINT_CONCURRENCY, DeliveryJob
    from app.worker import register_handler
    from app.worker.loop import Worker
    from app.worker.metrics import JobMetrics
    from tests.webhooks.receiver import DeadReceiver, Receiver

    settings = Settings.from_env()
    database = Database(settings, DOCUMENT_MODELS)
    await database.start()
    sender = Sender(https_only=False, allow_private=True, timeout=delivery_timeout)
    register_handler(
        DELIVER, DeliveryJob(settings, sender), max_attempts=1000, group_limit=PER_ENDPOINT_CONCURRENCY
    )
    dead, live = await DeadReceiver().start(), await Receiver().start()
    owner_a, owner_b = ObjectId(), ObjectId()
    for i in range(ENDPOINTS):
        both = i < SUBSCRIBED_TO_BOTH
        events = ["invoice.paid", "invoice.sent"] if both else ["invoice.paid"]
        await endpoint(owner_a, dead.url(f"a/{i}"), events)
    await endpoint(owner_b, live.url, ["invoice.paid"])
    for i in range(PAID_EVENTS):
        await emit(owner_a, "invoice.paid", {"id": str(ObjectId()), "number": f"A-{i}"})
    await emit(owner_a, "invoice.sent", {"id": str(ObjectId()), "number": "A-sent"})
    await fan_out()

    worker = Worker(JobMetrics(CollectorRegistry()), concurrency=slots)
    running = asyncio.create_task(worker.run())
    await dead.until_arrivals(slots)  # every slot holds one of A's attempts
    await emit(owner_b, "invoice.paid", {"id": str(ObjectId()), "number": "B-1"})
    await fan_out()
    queued_at, a_before = time.perf_counter(), dead.arrivals
    await live.arrived.wait()
    waited, a_meanwhile = time.perf_counter() - queued_at, dead.arrivals - a_before
    print(
        f"slots {slots}, dead-endpoint timeout {delivery_timeout:g} s, A's backlog 200 deliveries: "
        f"B's delivery waited {waited:.2f} s; {a_meanwhile} of A's attempts began meanwhile"
    )
    worker.stop()
    await running
    await sender.aclose()
    await live.stop()
    await dead.stop()
    await database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="the delivery timeout, seconds")
    parser.add_argument("--slots", type=int, default=16, help="the worker's slots (python -m app worker: 16)")
    arguments = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("MONGODB_")]:
        del os.environ[name]
    os.environ.setdefault("APP_ENV", "development")
    os.environ.setdefault("JWT_SECRET", secrets.token_urlsafe(48))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(arguments.timeout, arguments.slots))
