"""A real SMTP server (aiosmtpd) on loopback that answers as a test scripts it, an app that sends through it,
and a worker to run the e-mail jobs."""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from app.auth import verification
from app.worker.loop import Worker
from tests.conftest import Account, register, serve
from tests.jobs import kept_registry, new_worker
from tests.servers import free_port

SMTP_FROM = "invoices@orbix.example"


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Mailbox:
    """The server's behaviour and what it saw. `rcpt_replies` maps an address to the reply its RCPT gets;
    `data_replies` are the replies to the next DATA commands, in order (then 250). `delivered` holds the
    messages the server accepted, `offered` every message sent to it, accepted or not."""

    port: int
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)
    offered: list[Delivered] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        reply = self.rcpt_replies.get(address, "250 OK")
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = Delivered(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        self.offered.append(message)
        reply = self.data_replies.pop(0) if self.data_replies else "250 Message accepted for delivery"
        if reply.startswith("250"):
            self.delivered.append(message)
        return reply


class SmtpServer:
    """Start and stop an aiosmtpd server on a fixed loopback port (so a test can refuse connections first)."""

    def __init__(self) -> None:
        self.mailbox = Mailbox(port=free_port())
        self._controller: Controller | None = None

    def start(self) -> Mailbox:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.mailbox.port)
        self._controller.start()
        return self.mailbox

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server: SmtpServer) -> Mailbox:
    return smtp_server.start()


@pytest.fixture(autouse=True)
def no_verification_emails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suites of invoice e-mails and invitations see their own e-mails alone: registration queues no
    verification e-mail here (tests/auth/test_email_verification.py tests it, with this fixture left out)."""

    async def nothing(*args: Any) -> None:
        return None

    monkeypatch.setattr(verification, "after_register", nothing)


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    """Each test's app registers the e-mail job with its own SMTP settings; none outlives the test."""
    with kept_registry():
        yield


@pytest.fixture
async def mail_client(
    make_app: Callable[..., Any], smtp_server: SmtpServer
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with SMTP pointed at the test's server (started or not: see `mailbox`)."""
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.mailbox.port,
        smtp_starttls=False,
        smtp_from=SMTP_FROM,
        smtp_timeout_seconds=5.0,
    )
    async with serve(app) as http:
        yield http


@pytest.fixture
async def sender(mail_client: httpx.AsyncClient) -> Account:
    return await register(mail_client, "ada@example.com", "Ada Lovelace")


@pytest.fixture
def worker(mail_client: httpx.AsyncClient) -> Worker:
    """Runs the jobs of the test's database (mail_client ran the app's lifespan)."""
    return new_worker()
