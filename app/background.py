"""The composition root of background work: each area that has jobs or periodic tasks registers them here.
Both the API (WORKER=inline) and `python -m app worker` call it, so every process knows the same kinds, and
both relay the events their writes leave in an outbox (a worker writes some: webhook_endpoint.disabled), and
both render documents (a request, an e-mail, a send's recovery) within the same fair share."""

from __future__ import annotations

from app import recovery
from app.auth import password_reset, verification
from app.config import Settings
from app.db import outbox
from app.documents import pool as renderers
from app.events.relay import relay
from app.mail import delivery as mail
from app.mail import reminders
from app.mail.notices import register_notice
from app.organizations import jobs as organizations
from app.recurring import jobs as recurring
from app.webhooks import fanout
from app.webhooks import jobs as webhooks
from app.worker import register_periodic


def register_jobs(settings: Settings) -> None:
    """Install the events relay, set the rendering limits, and register every area's job handlers and
    periodic tasks (idempotent)."""
    outbox.install(relay)
    renderers.configure(settings)
    mail.register(settings)
    reminders.register(settings)
    organizations.register(settings)
    register_notice(settings, password_reset.JOB_KIND, password_reset.compose)
    register_notice(settings, verification.JOB_KIND, verification.compose)
    register_periodic(
        f"{verification.JOB_KIND}.requeue",
        verification.REQUEUE_EVERY_SECONDS,
        lambda: verification.requeue_unmailed(settings),
    )
    register_periodic("recovery", recovery.EVERY_SECONDS, recovery.recover)
    webhooks.register(settings)
    register_periodic(fanout.FANOUT, fanout.EVERY_SECONDS, fanout.fan_out)
    recurring.register(settings)
