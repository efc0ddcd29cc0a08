"""The composition root of background work: each area that has jobs or periodic tasks registers them here.
Both the API (WORKER=inline) and `python -m app worker` call it, so every process knows the same kinds, and
both relay the events their writes leave in an outbox (a worker writes some: webhook_endpoint.disabled)."""

from __future__ import annotations

from app import recovery
from app.config import Settings
from app.db import outbox
from app.events.relay import relay
from app.mail import delivery as mail
from app.webhooks import fanout
from app.webhooks import jobs as webhooks
from app.worker import register_periodic


def register_jobs(settings: Settings) -> None:
    """Install the events relay and register every area's job handlers and periodic tasks (idempotent)."""
    outbox.install(relay)
    mail.register(settings)
    register_periodic("recovery", recovery.EVERY_SECONDS, recovery.recover)
    webhooks.register(settings)
    register_periodic(fanout.FANOUT, fanout.EVERY_SECONDS, fanout.fan_out)
