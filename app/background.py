"""The composition root of background work: each area that has jobs or periodic tasks registers them here.
Both the API (WORKER=inline) and `python -m app worker` call it, so every process knows the same kinds."""

from __future__ import annotations

from app import recovery
from app.core.config import Settings
from app.mail import delivery as mail
from app.webhooks import jobs as webhooks
from app.worker import register_periodic


def register_jobs(settings: Settings) -> None:
    """Register every area's job handlers and periodic tasks (idempotent)."""
    mail.register(settings)
    register_periodic("recovery", recovery.EVERY_SECONDS, recovery.recover)
    webhooks.register(settings)
