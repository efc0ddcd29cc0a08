"""Invoices: create (from lines and/or time entries), read, list, and the edits of drafts.

The lifecycle actions (send, payments, void) and the transition table live in lifecycle.py. Every change
is one conditional update with the expected state in the filter: two racing requests never both win.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from msgspec import UNSET
from pymongo.errors import DuplicateKeyError

from app.auth.models import Owner
from app.clients.models import Client
from app.core.clock import check_in_range, midnight_utc, today_in, utc_now
from app.core.errors import ValidationFailed
from app.core.money import MAX_AMOUNT, from_cents, to_cents
from app.core.retry import compare_and_set
from app.db.outbox import pending, publish
from app.db.pagination import Page, PageParams, id_filters, paginate_raw, sortable
from app.db.repository import (
    Parent,
    confirm_moved,
    created_before,
    delete_owned_where,
    get_owned,
    get_owned_view,
    get_referenced,
    insert_confirmed,
    owned_filter,
    update_owned,
)
from app.db.versions import ANY, Expected
from app.invoices import time_lines
from app.invoices.lifecycle import LIFECYCLE, refuse, release_entries, require
from app.invoices.models import Invoice, StoredLine, StoredPeriod, recurring_slot
from app.invoices.schemas import (
    MAX_LINES,
    InvoiceCreate,
    InvoiceFilters,
    InvoiceOut,
    InvoiceUpdate,
    LineIn,
)
from app.invoices.tax_category import (
    TaxCategory,
    check_rate_category,
    check_reason,
    default_category,
    follow_rate,
    line_tax,
    stored_category,
)
from app.invoices.totals import PricedLine, compute_totals
from app.organizations.models import Books
from app.projects.models import Project
from app.projects.service import project_of_client
from app.time_entries import claims

SORTS = sortable(
    Invoice,
    {
        "issue_date": "issue_date",
        "due_date": "due_date",
        "total": "total_cents",
        "number": "number_seq",
        "created_at": "created_at",
    },
)


# ---------------------------------------------------------------- lines and totals


def _manual_line(index: int, line: LineIn) -> StoredLine:
    """A line as stored: its own VAT only when it gave some (else it follows the invoice's, section 22)."""
    own = line_tax(line.tax_category, line.tax_rate, f"lines[{index}].")
    return StoredLine(
        description=line.description,
        quantity=line.quantity,
        unit_price_cents=to_cents(line.unit_price),
        amount_cents=0,
        tax_category=None if own is None else own[0].value,
        tax_rate=None if own is None else own[1],
    )


def _manual_lines(lines: Sequence[LineIn]) -> list[StoredLine]:
    return [_manual_line(index, line) for index, line in enumerate(lines)]


def check_tax(
    lines: Sequence[StoredLine], category: TaxCategory, tax_rate: Decimal, reason: str | None
) -> None:
    """400 for an invoice's category and rate that contradict each other, or an exemption reason its lines
    refuse: for the areas that keep an invoice's tax to bill later (recurring schedules)."""
    check_rate_category(category, tax_rate)
    _check_reason(lines, category, reason)


def _check_reason(lines: Sequence[StoredLine], category: TaxCategory, reason: str | None) -> None:
    """The exemption reason is refused when every line is S or Z (each line's own category, else the
    invoice's; with no lines, the invoice's)."""
    categories = [TaxCategory(line.tax_category) if line.tax_category else category for line in lines]
    check_reason(categories or [category], reason)


def stored_lines(lines: Sequence[LineIn]) -> list[StoredLine]:
    """Hand-written lines as an invoice stores them (amounts are filled in by `priced`): for the areas that
    keep lines to bill later (recurring schedules)."""
    return _manual_lines(lines)


def _check_line_count(count: int) -> None:
    if count > MAX_LINES:
        raise ValidationFailed.field("lines", f"at most {MAX_LINES} lines per invoice, time entries included")


def priced(
    lines: list[StoredLine], *, discount_rate: Decimal, tax_rate: Decimal, tax_category: str
) -> dict[str, Any]:
    """Lines with their amounts and every total, as Invoice fields; the one place amounts are computed. A line
    without its own tax is taxed at the invoice's category and rate."""
    _check_line_count(len(lines))
    totals = compute_totals(
        (
            PricedLine(
                line.quantity,
                from_cents(line.unit_price_cents),
                line.tax_category or tax_category,
                tax_rate if line.tax_rate is None else line.tax_rate,
            )
            for line in lines
        ),
        discount_rate=discount_rate,
    )
    if max(totals.subtotal, totals.total) > MAX_AMOUNT:
        raise ValidationFailed.field("lines", f"the invoice total must be at most {MAX_AMOUNT}")
    amounts = zip(lines, totals.line_amounts, strict=True)
    return {
        "lines": [line.model_copy(update={"amount_cents": to_cents(amount)}) for line, amount in amounts],
        **totals.stored(),
    }


# ---------------------------------------------------------------- create, read, list


async def create_invoice(
    owner: Books, data: InvoiceCreate, new_id: PydanticObjectId | None = None
) -> Invoice:
    """A draft from lines and time entries (claimed for it first). A retry whose earlier run committed (the
    same `new_id`) answers with that run's invoice, finishing it if that run was cut short."""
    earlier = await created_before(Invoice, new_id, owner.id)
    if earlier is not None:
        if not earlier.outbox:
            return earlier
        held = [line.time_entry_id for line in earlier.lines if line.time_entry_id is not None]
        return await _stand(earlier, held, None)
    issue_date = data.issue_date or today_in(owner.business.time_zone)  # the organisation's today
    if data.due_date is not None and data.due_date < issue_date:  # checked with the body when both are sent
        raise ValidationFailed.field("due_date", f"must be on or after issue_date ({issue_date}, today)")
    client = await get_referenced(Client, data.client_id, owner.id, "client_id")
    project = await project_of_client(owner, data.project_id, client.id) if data.project_id else None
    entry_ids = [ObjectId(i) for i in data.time_entry_ids]
    _check_line_count(len(data.lines) + len(entry_ids))
    if entry_ids:
        await claims.check_entries(owner.id, client.id, entry_ids)
    due_date = data.due_date or _default_due_date(issue_date, client.payment_terms_days)
    tax_rate = data.tax_rate if data.tax_rate is not None else owner.business.default_tax_rate
    tax_category = data.tax_category or default_category(tax_rate)
    check_rate_category(tax_category, tax_rate)
    manual_lines = _manual_lines(data.lines)
    _check_reason(manual_lines, tax_category, data.tax_exemption_reason)
    invoice_id = new_id or PydanticObjectId()
    since = utc_now()
    try:  # a claim cut short (cancelled request) releases what it took
        if entry_ids:
            await claims.claim(owner.id, client.id, invoice_id, entry_ids)
        lines = list(manual_lines)
        if entry_ids:
            lines += await time_lines.claimed_lines(owner.id, invoice_id, entry_ids)
        invoice = Invoice(
            id=invoice_id,
            owner_id=owner.id,
            number_slot=f"draft:{invoice_id}",
            client_id=client.id,
            project_id=project.id if project else None,
            currency=client.currency,
            issue_date=issue_date,
            due_date=due_date,
            notes=data.notes,
            tax_rate=tax_rate,
            tax_category=tax_category.value,
            tax_exemption_reason=data.tax_exemption_reason,
            discount_rate=data.discount_rate,
            **priced(lines, discount_rate=data.discount_rate, tax_rate=tax_rate, tax_category=tax_category),
        )
    except BaseException:
        if entry_ids:
            await claims.release(owner.id, invoice_id)
        raise
    return await _stand(invoice, entry_ids, since)


async def _stand(invoice: Invoice, entry_ids: Sequence[ObjectId], since: datetime | None) -> Invoice:
    """Insert the draft (or meet the one an earlier run of the request inserted), then confirm what it relied
    on: its client and project, and its claims on `entry_ids` (taken at `since`); if one fails, undo it all.
    Then the entries' events leave (or the worker's recovery sends them)."""
    owner_id = invoice.owner_id

    async def claims_stand() -> None:
        if entry_ids:
            await claims.confirm_claims(owner_id, invoice.id, len(entry_ids), since)

    parents: list[Parent] = [
        (Client, invoice.client_id, "client_id"),
        (Project, invoice.project_id, "project_id"),
    ]
    try:
        invoice = await insert_confirmed(invoice, parents, confirm=claims_stand)
    except BaseException:
        # Not when the draft is stored: its insert committed though its answer was lost (the retry, or the
        # worker's recovery, finishes it with its claims).
        if entry_ids and await created_before(Invoice, invoice.id, owner_id) is None:
            await claims.release(owner_id, invoice.id)
        raise
    if entry_ids:
        await claims.publish_claims(owner_id, invoice.id)
    return invoice


@dataclass(frozen=True)
class RecurringRun:
    """What a recurring schedule's run bills (section 23): its lines, tax, discount and notes, for its
    client and project, over `period_start` … `period_end`, issued on `period_start`."""

    recurring_invoice_id: ObjectId
    period_start: date
    period_end: date
    client_id: ObjectId
    project_id: ObjectId | None
    lines: list[StoredLine]
    notes: str
    tax_rate: Decimal
    tax_category: str
    tax_exemption_reason: str | None
    discount_rate: Decimal


async def create_recurring_invoice(owner: Books, run: RecurringRun) -> Invoice:
    """The draft of one schedule's period, exactly once: the unique (recurring_invoice_id, period.start) index
    lets one insert stand, and every other (another worker, a retried job) answers with that one. Raises
    400 invalid_reference when the client or project is gone, 400 validation_error when the lines or tax no
    longer pass the invoice rules (the schedule pauses itself with that reason)."""
    earlier = await recurring_invoice_of(owner.id, run.recurring_invoice_id, run.period_start)
    if earlier is not None:
        return earlier
    client = await get_referenced(Client, str(run.client_id), owner.id, "client_id")
    project = await project_of_client(owner, str(run.project_id), client.id) if run.project_id else None
    category = default_category(run.tax_rate) if not run.tax_category else TaxCategory(run.tax_category)
    check_tax(run.lines, category, run.tax_rate, run.tax_exemption_reason)
    invoice_id = PydanticObjectId()
    invoice = Invoice(
        id=invoice_id,
        owner_id=owner.id,
        number_slot=f"draft:{invoice_id}",
        client_id=client.id,
        project_id=project.id if project else None,
        currency=client.currency,
        issue_date=run.period_start,
        due_date=_default_due_date(run.period_start, client.payment_terms_days),
        notes=run.notes,
        tax_rate=run.tax_rate,
        tax_category=category.value,
        tax_exemption_reason=run.tax_exemption_reason,
        discount_rate=run.discount_rate,
        recurring_invoice_id=run.recurring_invoice_id,
        period=StoredPeriod(start=run.period_start, end=run.period_end),
        recurring_slot=recurring_slot(run.recurring_invoice_id, run.period_start),
        **priced(run.lines, discount_rate=run.discount_rate, tax_rate=run.tax_rate, tax_category=category),
    )
    try:
        return await _stand(invoice, [], None)
    except DuplicateKeyError:
        # Another run of this period inserted first: that one stands (its event is its own).
        standing = await recurring_invoice_of(owner.id, run.recurring_invoice_id, run.period_start)
        if standing is None:
            raise
        return standing


async def recurring_invoice_of(
    owner_id: Any, recurring_invoice_id: Any, period_start: date
) -> Invoice | None:
    """The invoice a schedule made for the period starting `period_start`, or None (the unique index)."""
    slot = recurring_slot(recurring_invoice_id, period_start)
    found = await Invoice.get_motor_collection().find_one(owned_filter(owner_id, recurring_slot=slot))
    return None if found is None else Invoice.model_validate(found)


def _default_due_date(issue_date: date, terms_days: int) -> date:
    """issue_date + the client's terms, which may not leave the calendar range every date keeps to."""
    due_date = issue_date + timedelta(days=terms_days)
    try:
        return check_in_range(due_date)
    except ValueError as exc:
        raise ValidationFailed.field(
            "due_date", f"the default ({issue_date} + {terms_days} days) {exc}; send a due_date"
        ) from None


async def get_invoice(owner: Owner, invoice_id: str) -> InvoiceOut:
    return await get_owned_view(Invoice, invoice_id, owner.id, InvoiceOut)


async def list_invoices(owner: Books, params: PageParams, filters: InvoiceFilters) -> Page[InvoiceOut]:
    query = owned_filter(owner.id, id_filters(client_id=filters.client_id, project_id=filters.project_id))
    if filters.status:
        query["status"] = filters.status
    start, end = filters.issued_from, filters.issued_to
    if start and end and end < start:
        raise ValidationFailed.field("to", "must be on or after from")
    issued = {op: midnight_utc(day) for op, day in (("$gte", start), ("$lte", end)) if day}
    if issued:
        query["issue_date"] = issued
    # is_overdue's rule (schemas.overdue_today), today being the organisation's.
    today = midnight_utc(today_in(owner.business.time_zone))
    if filters.overdue is True:
        query["$and"] = [{"status": "sent"}, {"due_date": {"$lt": today}}, {"amount_due_cents": {"$gt": 0}}]
    elif filters.overdue is False:
        query["$or"] = [
            {"status": {"$ne": "sent"}},
            {"due_date": {"$gte": today}},
            {"amount_due_cents": {"$lte": 0}},
        ]
    if filters.q:
        query["number"] = {"$regex": re.escape(filters.q), "$options": "i"}
    return await paginate_raw(Invoice, query, params, SORTS, InvoiceOut)


# ---------------------------------------------------------------- draft edits


async def update_invoice(
    owner: Books, invoice_id: str, data: InvoiceUpdate, expected: Expected = ANY
) -> Invoice:
    """Recompute from what was read, write only if the draft did not change meanwhile (else retry)."""

    async def attempt() -> Invoice | None:
        invoice = await get_owned(Invoice, invoice_id, owner.id, expected)
        # References are checked before any state rule (docs/api-conventions.md): a foreign project_id is
        # 400, not 409.
        project_fields = await _project_change(owner, invoice, data)
        require(invoice, "edit")
        fields = {**project_fields, **_edited_fields(invoice, data)}
        event = pending("invoice.updated")
        updated = await update_owned(
            Invoice,
            invoice.id,
            owner.id,
            fields,
            where={**LIFECYCLE.where("edit"), "revision": invoice.revision},
            extra={"$inc": {"revision": 1}},
            event=event,
            expected=expected,
        )
        if updated is not None:
            revision = {"$inc": {"revision": 1}}
            await confirm_moved(invoice, fields, {"project_id": Project}, extra=revision, event=event)
        return updated

    # Losing a round means another edit was written: the draft is re-read, and `require` refuses only a real
    # state change; running out of rounds is a 409 conflict, never invalid_state on a draft.
    updated = await compare_and_set(
        attempt, "The invoice kept changing while this edit ran; fetch it and try again"
    )
    await publish(updated)
    return updated


async def _project_change(owner: Books, invoice: Invoice, data: InvoiceUpdate) -> dict[str, Any]:
    """`project_id` as the PATCH sets it, after its ownership check (400 invalid_reference)."""
    if data.project_id is UNSET:
        return {}
    if data.project_id is None:
        return {"project_id": None}
    project = await project_of_client(owner, data.project_id, invoice.client_id)
    return {"project_id": project.id}


def _edited_fields(invoice: Invoice, data: InvoiceUpdate) -> dict[str, Any]:
    """The draft's new fields, totals recomputed from the merged lines and rates."""
    fields: dict[str, Any] = {}
    if data.notes is not UNSET:
        fields["notes"] = data.notes
    issue_date = invoice.issue_date if data.issue_date is UNSET else data.issue_date
    due_date = invoice.due_date if data.due_date is UNSET else data.due_date
    if due_date < issue_date:
        raise ValidationFailed.field("due_date", "must be on or after issue_date")
    tax_rate = invoice.tax_rate if data.tax_rate is UNSET else data.tax_rate
    category = (
        follow_rate(stored_category(invoice.tax_category, invoice.tax_rate), tax_rate)
        if data.tax_category is UNSET
        else data.tax_category
    )
    reason = invoice.tax_exemption_reason if data.tax_exemption_reason is UNSET else data.tax_exemption_reason
    check_rate_category(category, tax_rate)
    discount_rate = invoice.discount_rate if data.discount_rate is UNSET else data.discount_rate
    lines = invoice.lines
    if data.lines is not UNSET:
        from_time = [line for line in invoice.lines if line.time_entry_id is not None]
        lines = _manual_lines(data.lines) + from_time
    _check_reason(lines, category, reason)
    return {
        **fields,
        "issue_date": issue_date,
        "due_date": due_date,
        "tax_rate": tax_rate,
        "tax_category": category.value,
        "tax_exemption_reason": reason,
        "discount_rate": discount_rate,
        **priced(lines, discount_rate=discount_rate, tax_rate=tax_rate, tax_category=category.value),
    }


async def delete_invoice(owner: Books, invoice_id: str, expected: Expected = ANY) -> None:
    """A draft only: tombstoned with its event, then its time entries are released, then the event leaves
    and the tombstone goes (if this dies in between, recovery releases them first: release_entries)."""
    await delete_owned_where(
        Invoice,
        invoice_id,
        owner.id,
        LIFECYCLE.where("delete"),
        lambda invoice: None if LIFECYCLE.allows(invoice.status, "delete") else refuse(invoice, "delete"),
        before_publish=lambda deleted: release_entries(owner.id, deleted.id),
        expected=expected,
    )


async def holds_numbered(owner_id: Any) -> bool:
    """Whether the organisation holds any invoice that was given a number (a legal record, even voided), or
    one being sent (claimed, about to be numbered: a request in flight, or one recovery finishes)."""
    numbered = {"owner_id": owner_id, "number_slot": {"$regex": "^seq:"}}
    if await Invoice.get_motor_collection().find_one(numbered, {"_id": 1}) is not None:
        return True
    sending = {"owner_id": owner_id, "sending_at": {"$ne": None}}
    return await Invoice.get_motor_collection().find_one(sending, {"_id": 1}) is not None
