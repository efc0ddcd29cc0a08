"""The default subject and message of an invoice or credit note e-mail, in the business locale (texts in
templates/)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from babel.dates import format_date
from babel.numbers import format_currency

from app.core.money import from_cents
from app.credit_notes.models import CreditNote
from app.invoices.models import Invoice
from app.organizations.models import Books

TEXTS = Path(__file__).with_name("templates") / "texts.json"


@cache
def _texts() -> dict[str, dict[str, str]]:
    return json.loads(TEXTS.read_text(encoding="utf-8"))


# What cannot stand in a header line: whatever str.splitlines() breaks a line at (CR, LF, VT, FF, FS, GS, RS,
# NEL, U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR: the e-mail library refuses a header holding one)
# and the other C0 and C1 control characters. The API refuses them in one-line fields (core/text.py); a
# name stored before that rule is written with spaces in their place.
_NOT_IN_A_HEADER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(value: str) -> str:
    """`value` for a header: each character a header line cannot hold becomes a space (a name stored
    before such characters were refused still goes out, on one line)."""
    return _NOT_IN_A_HEADER.sub(" ", value)


def sender_name(user: Books) -> str:
    """Who the e-mail is from: the business name, else the user's own."""
    return user.business.company_name or user.name


DISPLAY_NAME_LIMIT = 70  # characters of the name in `From:` (what a mail client shows in a list)
# The opening of an RFC 2047 encoded-word: a receiver (and the e-mail library itself, when it reads the header
# back) decodes "=?utf-8?b?...?=" in a display name, quoted or not, so a name could carry another address.
_ENCODED_WORD_OPENING = "=?"


def display_name(user: Books) -> str:
    """The sender's name for `From:` as text, never syntax: on one line, no encoded-word opening, at most
    DISPLAY_NAME_LIMIT characters. The e-mail library quotes the rest (quotes, commas, angle brackets)."""
    name = one_line(sender_name(user)).replace(_ENCODED_WORD_OPENING, "= ?").strip()
    if len(name) > DISPLAY_NAME_LIMIT:
        name = name[: DISPLAY_NAME_LIMIT - 1].rstrip() + "…"
    return name


def defaults(user: Books, invoice: Invoice, kind: str = "invoice") -> tuple[str, str]:
    """(subject, message) for `invoice`, sent or paid (it has a number); the subject on one line. `kind`
    "reminder": the payment reminder's text (API.md section 23), which names the amount still due."""
    locale = user.business.locale if user.business.locale in _texts() else "en"
    words = _texts()[locale]
    values = {
        "number": invoice.number,
        "sender": sender_name(user),
        "issue_date": format_date(invoice.issue_date, format="long", locale=locale),
        "due_date": format_date(invoice.due_date, format="long", locale=locale),
        "total": format_currency(from_cents(invoice.total_cents), invoice.currency, locale=locale),
        "amount_due": format_currency(from_cents(invoice.amount_due_cents), invoice.currency, locale=locale),
    }
    prefix = "reminder_" if kind == "reminder" else ""
    subject, message = words[f"{prefix}subject"], words[f"{prefix}message"]
    return one_line(subject.format(**values)), message.format(**values)


def credit_note_defaults(user: Books, note: CreditNote) -> tuple[str, str]:
    """(subject, message) for a numbered credit note; the subject on one line."""
    locale = user.business.locale if user.business.locale in _texts() else "en"
    words = _texts()[locale]
    values = {
        "number": note.number,
        "invoice_number": note.invoice_number,
        "sender": sender_name(user),
        "issue_date": format_date(note.issue_date, format="long", locale=locale),
        "total": format_currency(from_cents(note.total_cents), note.currency, locale=locale),
    }
    subject = words["credit_note_subject"].format(**values)
    return one_line(subject), words["credit_note_message"].format(**values)
