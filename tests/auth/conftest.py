"""For the account e-mail tests: tests/mail's real SMTP server and the app sending through it (`mail_client`),
the links in what it delivered, and a clock the token rules read that a test can move (no sleeps)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from app.auth import recovery_tokens
from app.core.clock import utc_now
from tests.mail.conftest import Mailbox, clean_registry, mail_client, mailbox, smtp_server, worker  # noqa: F401


def links(delivered_to: Mailbox, page: str, to: str) -> list[str]:
    """The tokens of the `{PUBLIC_URL}/{page}/{token}` links delivered to `to`, oldest first."""
    found = []
    for message in delivered_to.delivered:
        if message.rcpt_tos == [to]:
            text = message.message.get_body().get_content()
            found += re.findall(rf"http://127\.0\.0\.1:8000/{page}/(\S+)", text)
    return found


class Clock:
    """The time the token rules (auth/recovery_tokens.py) see: now, until moved forward."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta()
        monkeypatch.setattr(recovery_tokens, "utc_now", self.now)

    def now(self) -> datetime:
        return utc_now() + self.offset

    def move(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    yield Clock(monkeypatch)
