"""Credit notes (API.md section 22): issue one for a sent or paid invoice, read them, list them.

Issuing is several writes, ordered as an invoice's send orders them (invoices/lifecycle.py), each step
idempotent so that the request, a retry with the same Idempotency-Key and the worker's recovery may all run
it and any of them may die anywhere:

1. check and price the note, and render its document with the number it is about to receive (read, not
   taken): a 422 (EN 16931) or any other refusal leaves nothing behind and uses no number;
2. insert the note, unnumbered and marked `issuing_at` (it shows nowhere yet);
3. apply it to its invoice (invoices/credits.py: one conditional write; the commitment). Refused there
   (another note credited the same amounts meanwhile, the invoice was voided) the note is deleted again;
4. take its number (db/sequences.py), written with the `credit_note.created` event;
5. store its document (rendered again if the number taken is not the one expected), record it on the note
   and clear `issuing_at`; then the event leaves.

The recovery (credit_notes/recovery.py) runs `finish` on every note whose `issuing_at` is old: from step 3
on, whatever step it died after.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

import msgspec
from beanie import PydanticObjectId

from app.auth.models import Owner
from app.core.clock import today_in, utc_now
from app.core.errors import AppError, InvalidState, NotFound, ValidationFailed
from app.core.money import MAX_AMOUNT, ZERO, plain_rate, to_cents
from app.credit_notes import document_data
from app.credit_notes.models import CreditNote, CreditNoteLine
from app.credit_notes.numbering import SEQUENCE
from app.credit_notes.schemas import CreditNoteCreate, CreditNoteFilters, CreditNoteLineIn, CreditNoteOut
from app.db.outbox import pending, publish
from app.db.pagination import Page, PageParams, id_filters, paginate_raw, sortable
from app.db.repository import (
    OwnerId,
    created_before,
    insert_once,
    owned_filter,
    parse_object_id,
    update_owned,
)
from app.db.sequences import Numbered, format_number, number_slot
from app.db.versions import ANY, Expected
from app.documents import credit_notes as credit_documents
from app.documents import service as documents
from app.documents.models import StoredDocument
from app.invoices import credits
from app.invoices.credits import Creditable, GroupAmount
from app.invoices.models import DocumentInfo, StoredTaxGroup
from app.invoices.tax_category import TaxCategory, default_category
from app.invoices.totals import PricedLine, compute_totals
from app.organizations.models import Books

SORTS = sortable(CreditNote, {"number": "number_seq", "issue_date": "issue_date", "created_at": "created_at"})
INVOICE_SORTS = sortable(CreditNote, {"created_at": "created_at"})
# A note shows once it is numbered (until then it is being issued).
NUMBERED: dict[str, Any] = {"number": {"$ne": None}}
CREATED = "credit_note.created"


# ---------------------------------------------------------------- pricing


class Priced(msgspec.Struct, frozen=True):
    lines: list[CreditNoteLine]
    groups: list[GroupAmount]
    subtotal_cents: int
    tax_cents: int
    total_cents: int


def _line_tax(invoice: Creditable, line: CreditNoteLineIn, index: int) -> tuple[str, Decimal]:
    """A line's (category, rate): its own, else the invoice's (a rate alone takes the default category of
    that rate); 400 on the line's field unless it is one of the invoice's groups."""
    rate = invoice.tax_rate if line.tax_rate is None else line.tax_rate
    if line.tax_category is not None:
        category = line.tax_category
    elif line.tax_rate is None:
        category = TaxCategory(invoice.tax_category)
    else:
        category = default_category(rate)
    groups = {(g.category, g.rate.normalize() if g.rate else Decimal(0)) for g in invoice.groups}
    if (category.value, rate.normalize() if rate else Decimal(0)) not in groups:
        listed = ", ".join(f"{g.category} {g.rate:f}%" for g in invoice.groups)
        field = "tax_category" if all(g.category != category.value for g in invoice.groups) else "tax_rate"
        raise ValidationFailed.field(
            f"lines[{index}].{field}",
            f"({category.value}, {rate:f}%) is not one of the invoice's tax groups ({listed})",
        )
    return category.value, rate


def _priced_lines(invoice: Creditable, lines: Sequence[CreditNoteLineIn]) -> Priced:
    """The note's lines as given: amounts, groups and totals by the invoices' arithmetic (no discount)."""
    taxes = [_line_tax(invoice, line, i) for i, line in enumerate(lines)]
    totals = compute_totals(
        (PricedLine(line.quantity, line.unit_price, c, r) for line, (c, r) in zip(lines, taxes, strict=True)),
        discount_rate=ZERO,
    )
    if totals.total > MAX_AMOUNT:
        raise ValidationFailed.field("lines", f"the credit note total must be at most {MAX_AMOUNT}")
    stored = [
        CreditNoteLine(
            description=line.description,
            quantity=line.quantity,
            unit_price_cents=to_cents(line.unit_price),
            amount_cents=to_cents(amount),
            tax_rate=plain_rate(rate),
            tax_category=category,
        )
        for line, amount, (category, rate) in zip(lines, totals.line_amounts, taxes, strict=True)
    ]
    groups = [
        GroupAmount(g.category, plain_rate(g.rate), to_cents(g.taxable), to_cents(g.tax))
        for g in totals.groups
    ]
    return Priced(stored, groups, to_cents(totals.subtotal), to_cents(totals.tax), to_cents(totals.total))


def _rest(invoice: Creditable, reason: str) -> Priced:
    """What is left to credit: one line per group (quantity 1, unit price the taxable amount not credited
    yet) with that group's tax not credited yet as it is, so the total is the invoice's total minus what
    was credited, exactly. 409 when nothing is left."""
    left = [group for group in invoice.left() if group.taxable_cents or group.tax_cents]
    if not left:
        raise InvalidState(f"Invoice {invoice.number} is credited in full already")
    lines = [
        CreditNoteLine(
            description=reason,
            quantity=Decimal(1),
            unit_price_cents=group.taxable_cents,
            amount_cents=group.taxable_cents,
            tax_rate=group.rate,
            tax_category=group.category,
        )
        for group in left
    ]
    subtotal = sum(group.taxable_cents for group in left)
    tax = sum(group.tax_cents for group in left)
    return Priced(lines, left, subtotal, tax, subtotal + tax)


def _breakdown(groups: Sequence[GroupAmount]) -> list[StoredTaxGroup]:
    return [
        StoredTaxGroup(category=g.category, rate=g.rate, taxable_cents=g.taxable_cents, tax_cents=g.tax_cents)
        for g in groups
    ]


def _amounts(note: CreditNote) -> list[GroupAmount]:
    return [GroupAmount(g.category, g.rate, g.taxable_cents, g.tax_cents) for g in note.tax_breakdown]


# ---------------------------------------------------------------- issuing


class Prepared(msgspec.Struct, frozen=True):
    """What the request rendered before the note was stored, with the number it expected."""

    number: str
    rendered: documents.Rendered


async def create_credit_note(
    owner: Books,
    invoice_id: str,
    data: CreditNoteCreate,
    new_id: PydanticObjectId | None = None,
    expected: Expected = ANY,
) -> CreditNote:
    """Issue a credit note of the invoice (the steps in the module docstring). A retry whose earlier run
    stored its note (the same `new_id`) finishes and answers with that note."""
    earlier = await created_before(CreditNote, new_id, owner.id)
    if earlier is not None:  # the Idempotency-Key binds the path: it is this invoice's
        return await finish(owner, earlier.id)
    invoice = await credits.creditable(owner, invoice_id, expected)
    priced = _priced_lines(invoice, data.lines) if data.lines is not None else _rest(invoice, data.reason)
    credits.within(invoice.groups, invoice.credited, priced.groups)  # 400 before any render
    now = utc_now()
    note_id = new_id or PydanticObjectId()
    note = CreditNote(
        id=note_id,
        owner_id=owner.id,
        number_slot=f"issuing:{note_id}",
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        invoice_issue_date=invoice.issue_date,
        client_id=invoice.client_id,
        reason=data.reason,
        lines=priced.lines,
        currency=invoice.currency,
        issue_date=today_in(owner.business.time_zone),
        subtotal_cents=priced.subtotal_cents,
        tax_cents=priced.tax_cents,
        total_cents=priced.total_cents,
        tax_breakdown=_breakdown(priced.groups),
        tax_exemption_reason=invoice.tax_exemption_reason,
        issuing_at=now,
        issued_at=now,
    )
    upcoming = format_number(owner.business.credit_note_prefix, await SEQUENCE.peek(owner.id))
    note.number = upcoming  # the document is rendered with the number it is about to receive
    rendered = await credit_documents.render_credit_note(owner.id, await document_data.load(owner, note), now)
    note.number = None
    note = await insert_once(note)
    return await finish(owner, note.id, Prepared(upcoming, rendered), expected)


async def finish(
    owner: Books, note_id: OwnerId, prepared: Prepared | None = None, expected: Expected = ANY
) -> CreditNote:
    """Steps 3 to 5 for a stored note, each idempotent (the request, a retry and the recovery all run
    this). A note its invoice refuses is deleted and the refusal raised (`expected`: the request's If-Match
    on the invoice, which its credit is conditional on)."""
    note = await _issuing(owner, note_id)
    if note.number is None:
        try:
            await credits.apply_credit(owner, note.invoice_id, note.id, _amounts(note), expected)
        except AppError:  # refused: nothing was applied (a note applied once is never refused again)
            if not await credits.is_applied(owner.id, note.invoice_id, note.id):
                await CreditNote.get_motor_collection().delete_one(
                    owned_filter(owner.id, _id=note.id, number=None)
                )
            raise
    await SEQUENCE.take(owner.id, note.id, numbered(owner))
    note = await _issuing(owner, note.id)
    if note.document is None:
        assert note.number is not None
        if prepared is not None and prepared.number == note.number:
            stored = await documents.store(owner.id, note.id, prepared.rendered)
        else:  # another number than expected, or the request died: rendered now with its own
            stored = await store_final(owner, note)
        note = await _attach(owner, note, stored)
    elif note.issuing_at is not None:
        note = await _done(owner, note, {})
    await publish(note)
    return note


def numbered(owner: Books) -> Numbered[CreditNote]:
    return Numbered(
        load=lambda note_id: _issuing(owner, note_id),
        has_number=lambda note: note.number is not None,
        write=lambda note, seq: _number(owner, note, seq),
    )


async def _number(owner: Books, note: CreditNote, seq: int) -> bool:
    fields = {
        "number": format_number(owner.business.credit_note_prefix, seq),
        "number_seq": seq,
        "number_slot": number_slot(seq),
    }
    numbered = await update_owned(
        CreditNote, note.id, owner.id, fields, where={"number": None}, event=pending(CREATED)
    )
    return numbered is not None


async def store_final(owner: Books, note: CreditNote) -> StoredDocument:
    """The numbered note's stored document; rendered and kept now if none is (its issue was cut short),
    dated by its issue, so whoever renders it stores the bytes the issue would have."""
    data = await document_data.load(owner, note)
    return await documents.ensure_stored(owner.id, note.id, data, note.issued_at)


async def _attach(owner: Books, note: CreditNote, stored: StoredDocument) -> CreditNote:
    info = DocumentInfo(
        sha256=stored.sha256, size=stored.size, e_invoice=stored.e_invoice, rendered_at=stored.rendered_at
    )
    return await _done(owner, note, {"document": info})


async def _done(owner: Books, note: CreditNote, fields: dict[str, Any]) -> CreditNote:
    """The issue is complete: clear `issuing_at` (an internal mark, with whatever `fields` record)."""
    done = {"$unset": {"issuing_at": ""}}
    return await update_owned(CreditNote, note.id, owner.id, fields, extra=done) or note


async def _issuing(owner: Books, note_id: OwnerId) -> CreditNote:
    """The note, read whether it is numbered yet or not."""
    raw = await CreditNote.get_motor_collection().find_one(owned_filter(owner.id, _id=note_id))
    if raw is None:
        raise NotFound(f"No credit note with id {note_id!r}")
    return cast(CreditNote, CreditNote.model_validate(raw))


async def abandon(owner_id: OwnerId, note_id: OwnerId) -> None:
    """Stop finishing a note whose organisation was deleted meanwhile (recovery)."""
    await CreditNote.get_motor_collection().update_one(
        owned_filter(owner_id, _id=note_id), {"$unset": {"issuing_at": ""}}
    )


# ---------------------------------------------------------------- reading


async def get_note(owner: Books, note_id: str, expected: Expected = ANY) -> CreditNote:
    """A numbered note of the caller's organisation, else 404; 412 if not at a version `expected` names."""
    oid = parse_object_id(note_id)
    raw = (
        await CreditNote.get_motor_collection().find_one(owned_filter(owner.id, NUMBERED, _id=oid))
        if oid
        else None
    )
    if raw is None:
        raise NotFound(f"No credit note with id {note_id!r}" if oid else "No such resource")
    note = cast(CreditNote, CreditNote.model_validate(raw))
    expected.check(note.version)
    return note


async def numbered_note(owner_id: OwnerId, note_id: OwnerId) -> CreditNote | None:
    """The numbered note `note_id` of the organisation, or None (for the worker: e-mail deliveries)."""
    raw = await CreditNote.get_motor_collection().find_one(owned_filter(owner_id, NUMBERED, _id=note_id))
    return None if raw is None else cast(CreditNote, CreditNote.model_validate(raw))


async def get_credit_note(owner: Books, note_id: str) -> CreditNoteOut:
    return CreditNoteOut.from_document(await get_note(owner, note_id))


async def list_credit_notes(
    owner: Owner, params: PageParams, filters: CreditNoteFilters
) -> Page[CreditNoteOut]:
    query = owned_filter(
        owner.id, NUMBERED, id_filters(invoice_id=filters.invoice_id, client_id=filters.client_id)
    )
    return await paginate_raw(CreditNote, query, params, SORTS, CreditNoteOut)


async def list_for_invoice(owner: Books, invoice_id: str, params: PageParams) -> Page[CreditNoteOut]:
    """The credit notes of one invoice (404 unless it is the caller's)."""
    invoice = await credits.invoice_id_of(owner, invoice_id)
    query = owned_filter(owner.id, NUMBERED, invoice_id=invoice)
    return await paginate_raw(CreditNote, query, params, INVOICE_SORTS, CreditNoteOut)
