"""A database (through the app's lifespan), a clean job registry and workers to run jobs with; for the tests
over the wire, the SMTP server of the mail tests and an app that sends through it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from app.worker.loop import Worker
from tests.jobs import kept_registry, new_worker
from tests.mail.conftest import mail_client, mailbox, no_verification_emails, smtp_server

__all__ = ["mail_client", "mailbox", "no_verification_emails", "smtp_server"]


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    """Each test starts from and leaves the app's own job kinds and periodic tasks."""
    with kept_registry():
        yield


@pytest.fixture
def make_worker(client: Any) -> Callable[..., Worker]:
    """Workers over the test's database (the `client` fixture ran the app's lifespan); fast backoff."""

    def build(**options: Any) -> Worker:
        options.setdefault("backoff_base_seconds", 30.0)
        return new_worker(**options)

    return build


@pytest.fixture
async def worker(make_worker: Callable[..., Worker]) -> AsyncIterator[Worker]:
    yield make_worker()
