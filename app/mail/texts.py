"""The default subject and message of an invoice e-mail, in the business locale (texts in templates/)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from babel.dates import format_date
from babel.numbers import format_currency

from app.auth.documents import User
from app.core.money import from_cents
from app.invoices.documents import Invoice

TEXTS = Path(__file__).with_name("templates") / "texts.json"


@cache
def _texts() -> dict[str, dict[str, str]]:
    return json.loads(TEXTS.read_text(encoding="utf-8"))


def sender_name(user: User) -> str:
    """Who the e-mail is from: the business name, else the user's own."""
    return user.business.company_name or user.name


def defaults(user: User, invoice: Invoice) -> tuple[str, str]:
    """(subject, message) for `invoice`, sent or paid (it has a number)."""
    locale = user.business.locale if user.business.locale in _texts() else "en"
    words = _texts()[locale]
    values = {
        "number": invoice.number,
        "sender": sender_name(user),
        "issue_date": format_date(invoice.issue_date, format="long", locale=locale),
        "due_date": format_date(invoice.due_date, format="long", locale=locale),
        "total": format_currency(from_cents(invoice.total_cents), invoice.currency, locale=locale),
    }
    return words["subject"].format(**values), words["message"].format(**values)
