"""The `From:` an SMTP server (aiosmtpd on loopback) receives: the business's name, quoted and cut, on the
operator's SMTP_FROM address, whatever the name holds (quotes, commas, angle brackets, encoded-words, line
breaks stored before they were refused)."""

from __future__ import annotations

import pytest
from bson import ObjectId

from app.mail.texts import DISPLAY_NAME_LIMIT
from app.organizations.models import Organization
from tests.mail.conftest import SMTP_FROM
from tests.mail.factories import email_invoice, sent_invoice

# name as typed -> the display name the receiver must read
HOSTILE = {
    'Evil" <ceo@bank.example>, "x': 'Evil" <ceo@bank.example>, "x',
    "Acme <ceo@bank.example>": "Acme <ceo@bank.example>",
    "ceo@bank.example, other@bank.example": "ceo@bank.example, other@bank.example",
    "(comment) <evil@x.example>; group:": "(comment) <evil@x.example>; group:",
    '\\" <a@b.example>': '\\" <a@b.example>',
    # encoded-words the receiver would decode into another address ("Admin <admin@bank.example>")
    "=?utf-8?b?QWRtaW4gPGFkbWluQGJhbmsuZXhhbXBsZT4=?=": "= ?utf-8?b?QWRtaW4gPGFkbWluQGJhbmsuZXhhbXBsZT4= ?=",
    '"=?utf-8?q?admin=40bank.example?="': '"= ?utf-8?q?admin=40bank.example?="',
    "Müller & Söhne <ceo@bank.example>": "Müller & Söhne <ceo@bank.example>",
}
# stored before one-line fields refused line breaks: written straight to the database
STORED = {
    "Acme\r\nBcc: victim@x.example": "Acme  Bcc: victim@x.example",
    "Acme\nFrom: ceo@bank.example": "Acme From: ceo@bank.example",
}


async def _received_from(mail_client, sender, mailbox, worker, invoice_id: str) -> tuple[str, str]:
    await email_invoice(mail_client, sender.headers, invoice_id, to=["ap@acme.example"])
    await worker.run_until_idle()
    delivered = mailbox.delivered[-1]
    assert delivered.mail_from == SMTP_FROM and delivered.rcpt_tos == ["ap@acme.example"]
    message = delivered.message
    assert message["Bcc"] is None and len(message.get_all("From")) == 1
    [address] = message["From"].addresses
    return address.display_name, address.addr_spec


async def test_a_hostile_company_name_is_only_ever_the_display_name(mail_client, sender, mailbox, worker):
    invoice = await sent_invoice(mail_client, sender.headers, e_invoice="none")
    for typed, shown in HOSTILE.items():
        changed = await mail_client.patch(
            "/api/auth/me", json={"business": {"company_name": typed}}, headers=sender.headers
        )
        assert changed.status_code == 200, changed.text
        assert await _received_from(mail_client, sender, mailbox, worker, invoice["id"]) == (shown, SMTP_FROM)
    organizations = Organization.get_motor_collection()  # the personal organisation: the user's id
    for stored, shown in STORED.items():
        await organizations.update_one(
            {"_id": ObjectId(sender.id)}, {"$set": {"business.company_name": stored}}
        )
        assert await _received_from(mail_client, sender, mailbox, worker, invoice["id"]) == (shown, SMTP_FROM)


@pytest.mark.parametrize("name", ["Analytical Engines " * 10, "A" * 200])
async def test_a_long_name_is_cut(mail_client, sender, mailbox, worker, name):
    invoice = await sent_invoice(mail_client, sender.headers, e_invoice="none", company_name=name[:200])
    shown, address = await _received_from(mail_client, sender, mailbox, worker, invoice["id"])
    assert address == SMTP_FROM
    # the library may fold a long word into encoded-words, which a reader joins with a space
    assert len(shown.replace(" ", "")) <= DISPLAY_NAME_LIMIT and shown.endswith("…")
    assert shown.replace(" ", "").startswith(name[:40].replace(" ", ""))


def test_a_name_that_would_read_back_as_anything_else_leaves_the_bare_address(monkeypatch):
    from types import SimpleNamespace

    from app.config import Settings
    from app.mail import delivery

    settings = Settings(smtp_host="127.0.0.1", smtp_from=SMTP_FROM)
    user = SimpleNamespace(business=SimpleNamespace(company_name="Acme"), name="Ada")
    assert str(delivery.sender_address(settings, user)) == f"Acme <{SMTP_FROM}>"  # type: ignore[arg-type]
    # were the name ever to slip through as an encoded-word, the header would read another address
    monkeypatch.setattr(
        delivery, "display_name", lambda _: "=?utf-8?b?QWRtaW4gPGFkbWluQGJhbmsuZXhhbXBsZT4=?="
    )
    assert str(delivery.sender_address(settings, user)) == SMTP_FROM  # type: ignore[arg-type]
