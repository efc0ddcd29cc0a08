"""Notices: the short e-mails of an account or an organisation (an invitation, a password reset link, an
address to verify), each sent by a worker job through SMTP_*. One handler serves every kind: the kind's
`compose` reads what the job names and returns the notice to send, or None when there is nothing to send
any more (used, revoked, expired or replaced before it went out); the message goes to the SMTP server; a
temporary failure (4xx, a dropped connection) is retried with the worker's backoff, a permanent one (5xx)
ends the job as failed with the server's reply. `compose` must be idempotent: delivery is at least once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from app.config import Settings
from app.mail.delivery import describe, is_permanent, send
from app.worker import PermanentFailure, register_handler

# 5 s doubling, capped at an hour: about two hours of attempts (greylisting asks for minutes).
MAX_ATTEMPTS = 12
SENDER_NAME = "Orbix"


@dataclass(frozen=True)
class Notice:
    to: str
    subject: str
    text: str
    sender: Address | None = None  # From; None: "Orbix" <SMTP_FROM>


Compose = Callable[[Settings, dict[str, Any]], Awaitable[Notice | None]]


def register_notice(settings: Settings, kind: str, compose: Compose) -> None:
    register_handler(kind, notice_handler(settings, compose), max_attempts=MAX_ATTEMPTS)


def notice_handler(settings: Settings, compose: Compose) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def deliver(payload: dict[str, Any]) -> None:
        if not settings.smtp_configured:
            raise RuntimeError("SMTP_HOST is not set in the worker's environment")  # retried later
        notice = await compose(settings, payload)
        if notice is None:
            return
        try:
            await send(settings, message_of(settings, notice), [notice.to])
        except (aiosmtplib.SMTPException, OSError) as error:
            if is_permanent(error):
                raise PermanentFailure(describe(error)) from error
            raise

    return deliver


def message_of(settings: Settings, notice: Notice) -> EmailMessage:
    message = EmailMessage()
    message["From"] = notice.sender or orbix_sender(settings)
    message["To"] = notice.to
    message["Subject"] = notice.subject
    message.set_content(notice.text)
    return message


def orbix_sender(settings: Settings) -> Address:
    assert settings.smtp_from is not None
    local, _, domain = settings.smtp_from.partition("@")
    return Address(display_name=SENDER_NAME, username=local, domain=domain)


def link(settings: Settings, page: str, token: str) -> str:
    """The SPA's page for a token: PUBLIC_URL (never the request's Host), the page, the token."""
    return f"{settings.public_url.rstrip('/')}/{page}/{token}"
