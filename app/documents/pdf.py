"""The invoice PDF: the data formatted for the locale with babel, laid out by the Typst template in
templates/, compiled by the `typst` package as PDF/A-3b, in the fonts fonts.py ships (any script; a character
no font has prints as U+FFFD), never the machine's.

CPU-bound and holding the GIL while Typst compiles: it runs only in the rendering processes (pool.py).
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import typst
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent
from pypdf import PdfReader
from segno import helpers as segno_helpers

from app.documents.fonts import families, printable, typst_fonts
from app.documents.model import EXEMPT_CATEGORIES, DocumentData, Party, TaxGroup

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = TEMPLATES / "invoice.typ"
EPC_MAX_AMOUNT = Decimal("999999999.99")
# EPC069-12 caps the payload at 331 bytes: a name of 70 characters and a text of 140 fit only while they
# are mostly one byte each in UTF-8, so longer ones are cut to these many bytes.
EPC_NAME_BYTES, EPC_TEXT_BYTES = 70, 140


@cache
def labels() -> dict[str, dict[str, str]]:
    return json.loads((TEMPLATES / "labels.json").read_text(encoding="utf-8"))


def _money(value: Decimal, data: DocumentData) -> str:
    return format_currency(value, data.currency, locale=data.locale)


def _rate(value: Decimal, locale: str) -> str:
    return format_percent(value / 100, format="#,##0.###%", locale=locale)


def _party_rows(party: Party, words: dict[str, str]) -> list[str]:
    place = " ".join(part for part in (party.postal_code, party.city) if part)
    rows = [party.line1, party.line2, place, party.state, party.country]
    if party.vat_id:
        rows.append(f"{words['vat_id']}: {party.vat_id}")
    if party.tax_number:
        rows.append(f"{words['tax_number']}: {party.tax_number}")
    rows += [party.email, party.phone]
    return [row for row in rows if row]


def epc_qr(data: DocumentData) -> str | None:
    """EPC069-12 ("GiroCode") SVG for the amount due, the number as the remittance text: only on a final
    document in EUR with an IBAN and something to pay (a draft is not paid)."""
    if data.number is None or data.currency != "EUR" or not data.iban:
        return None
    if not 0 < data.amount_due <= EPC_MAX_AMOUNT:
        return None
    name, text = printable(data.seller.name)[:70], data.number[:140]
    try:
        qr = segno_helpers.make_epc_qr(
            name=name, iban=data.iban, bic=data.bic, amount=data.amount_due, text=text
        )
    except ValueError:  # too many bytes: both cut to their byte budgets, which always fit
        name, text = _cut(name, EPC_NAME_BYTES), _cut(text, EPC_TEXT_BYTES)
        qr = segno_helpers.make_epc_qr(
            name=name, iban=data.iban, bic=data.bic, amount=data.amount_due, text=text
        )
    return qr.svg_inline(scale=4, border=0)


def _cut(text: str, size: int) -> str:
    """The longest prefix of whole characters that is at most `size` bytes in UTF-8."""
    return text.encode("utf-8")[:size].decode("utf-8", errors="ignore")


def view(data: DocumentData) -> dict[str, Any]:
    """Everything the template prints, as locale-formatted strings the shipped fonts can print, and the
    font list to print them in."""
    shown = _printable(_view(data))
    shown["fonts"] = families(_texts(shown), data.locale)
    return shown


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_printable(item) for item in value]
    if isinstance(value, dict):
        return {key: item if key == "qr" else _printable(item) for key, item in value.items()}
    return value


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        return [text for key, item in value.items() if key != "qr" for text in _texts(item)]
    return []


def _tax_rows(data: DocumentData, groups: list[TaxGroup], words: dict[str, str]) -> list[dict[str, Any]]:
    """One row per VAT group: with one group, "VAT (rate)" as every single-rate document always had; with
    more, each group's category (when not S), rate and the taxable amount it is computed on."""
    locale = data.locale
    if len(groups) == 1:
        label = f"{words['tax']} ({_rate(groups[0].rate, locale)})"
        return [{"label": label, "value": _money(groups[0].tax, data), "strong": False}]
    rows = []
    for group in groups:
        rate = _rate(group.rate, locale)
        rate = rate if group.category == "S" else f"{group.category}, {rate}"
        label = words["tax_on"].format(tax=words["tax"], rate=rate, base=_money(group.taxable, data))
        rows.append({"label": label, "value": _money(group.tax, data), "strong": False})
    return rows


def _exemption(data: DocumentData, groups: list[TaxGroup], words: dict[str, str]) -> str | None:
    """The exemption reason (BT-120) of the E, AE, G and O groups; "No VAT charged" for an untaxed document
    without one. With several groups, the categories it applies to lead it."""
    exempt = [group.category for group in groups if group.category in EXEMPT_CATEGORIES]
    if len(groups) == 1:
        category = groups[0].category
        if category != "S" and (data.tax_exemption_reason or category != "Z"):
            return data.tax_exemption_reason or words["exempt"]
        return None
    if not exempt:
        return None
    return f"{', '.join(dict.fromkeys(exempt))}: {data.tax_exemption_reason or words['exempt']}"


def _heading(data: DocumentData, words: dict[str, str]) -> dict[str, Any]:
    """Title and the numbered rows under it: an invoice's number and dates, or a credit note's own number,
    its date and the invoice it is for."""
    locale = data.locale
    number = data.number or words["draft"]
    issue_date = format_date(data.issue_date, format="long", locale=locale)
    if not data.credit_note:
        return {
            "kind": words["invoice"],
            "title": f"{words['invoice']} {number}",
            "rows": [
                [words["number"], number],
                [words["issue_date"], issue_date],
                [words["due_date"], format_date(data.due_date, format="long", locale=locale)],
            ],
            "reference": None,
        }
    reference = None
    if data.preceding is not None:
        template = words["for_invoice_of"] if data.preceding.issue_date else words["for_invoice"]
        when = data.preceding.issue_date
        reference = template.format(
            number=data.preceding.number,
            date=format_date(when, format="long", locale=locale) if when else "",
        )
    return {
        "kind": words["credit_note"],
        "title": f"{words['credit_note']} {number}",
        "rows": [[words["credit_note_number"], number], [words["credit_note_date"], issue_date]],
        "reference": reference,
    }


def _view(data: DocumentData) -> dict[str, Any]:
    words = labels()[data.locale]
    locale = data.locale
    groups = data.groups()
    several = len(groups) > 1

    def money(value: Decimal) -> str:
        return _money(value, data)

    totals = [{"label": words["subtotal"], "value": money(data.subtotal), "strong": False}]
    if data.discount:
        label = f"{words['discount']} ({_rate(data.discount_rate, locale)})"
        totals.append({"label": label, "value": f"−{money(data.discount)}", "strong": False})
    totals += _tax_rows(data, groups, words)
    totals.append({"label": words["total"], "value": money(data.total), "strong": True})
    if not data.credit_note:  # a credit note is not paid: no amounts paid and due, terms, bank or QR code
        if data.amount_paid:
            totals.append({"label": words["paid"], "value": f"−{money(data.amount_paid)}", "strong": False})
        totals.append({"label": words["due"], "value": money(data.amount_due), "strong": True})
    due_date = format_date(data.due_date, format="long", locale=locale)
    terms = words["terms"].format(days=data.payment_terms_days, date=due_date)
    bank = [f"{words['iban']}: {format_iban(data.iban)}"] if data.iban else []
    if data.bic:
        bank.append(f"{words['bic']}: {data.bic}")
    if data.credit_note:  # the buyer pays nothing to it
        bank = []
    heading = _heading(data, words)
    return {
        "lang": locale,
        "draft": data.draft,
        "labels": words,
        "kind": heading["kind"],
        "title": heading["title"],
        "heading": heading["rows"],
        "reference": heading["reference"],
        "number": data.number or words["draft"],
        "issue_date": format_date(data.issue_date, format="long", locale=locale),
        "due_date": due_date,
        "seller": {"name": data.seller.name, "rows": _party_rows(data.seller, words)},
        "buyer": {"name": data.buyer.name, "rows": _party_rows(data.buyer, words)},
        "rates": several,  # each line's rate is printed when the document has more than one group
        "lines": [
            {
                "description": line.description,
                "quantity": format_decimal(line.quantity, format="#,##0.####", locale=locale),
                "unit_price": money(line.unit_price),
                "amount": money(line.amount),
                "rate": _line_rate(*data.line_tax(line), locale),
            }
            for line in data.lines
        ],
        "totals": totals,
        "exemption": _exemption(data, groups, words),
        "terms": None if data.credit_note else terms,
        "bank": bank,
        "qr": None if data.credit_note else epc_qr(data),
        "notes": data.notes,
    }


def _line_rate(category: str, rate: Decimal, locale: str) -> str:
    shown = _rate(rate, locale)
    return shown if category == "S" else f"{shown} {category}"


def format_iban(iban: str | None) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if iban else ""


def render_pdf(data: DocumentData, *, rendered_at: datetime) -> bytes:
    """A PDF/A-3b in Typst's embedded fonts and the shipped ones (system fonts ignored), so every machine
    renders alike."""
    return typst.compile(
        str(TEMPLATE),
        sys_inputs={"view": json.dumps(view(data))},
        pdf_standards=["a-3b"],
        font_paths=typst_fonts(),
        ignore_system_fonts=True,
        timestamp=int(rendered_at.timestamp()),
    )


def page_count(pdf: bytes) -> int:
    """Read from the page tree's root (/Count), not by walking every page."""
    return len(PdfReader(io.BytesIO(pdf)).pages)
