"""The recurring tests register the app's job kinds with their own settings: none outlives its test. The
SMTP server of the mail tests, for the schedules that e-mail their invoices."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.jobs import kept_registry
from tests.mail.conftest import mail_client, mailbox, no_verification_emails, smtp_server

__all__ = ["mail_client", "mailbox", "no_verification_emails", "smtp_server"]


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    with kept_registry():
        yield
