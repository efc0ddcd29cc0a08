"""What the credit notes area may do to an invoice (API.md section 22), and the only code that writes an
invoice's credited amounts.

A credit note credits, per (category, rate) group of the invoice, a taxable amount and its tax. The invoice
keeps what all its notes credited per group (`credited`, in `tax_breakdown` order), their sum
(`amount_credited_cents`) and the ids of the notes applied (`credit_note_ids`). `apply_credit` is one
conditional update pinned to the version it read: it checks the new sums against the invoice's groups, sets
`amount_due` = max(0, total − paid − credited) and, on a `sent` invoice brought to nothing due, `paid` with
`paid_at` (event `invoice.paid`, as a payment's settle; else `invoice.updated`). Any write to the invoice
in between (another credit note, a payment, a void) makes it read and check again, so the credited sums can
never pass the invoice's, however many notes race. A note already applied is not applied twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from app.core.clock import utc_now
from app.core.errors import InvalidState, ValidationFailed
from app.core.money import from_cents, plain_rate, to_cents
from app.core.retry import compare_and_set
from app.db.outbox import pending, publish
from app.db.repository import OwnerId, get_owned, owned_filter, update_owned
from app.db.versions import ANY, Expected
from app.invoices.errors import TooManyCreditNotes
from app.invoices.lifecycle import LIFECYCLE, at_version, refuse, require
from app.invoices.models import Invoice, StoredTaxGroup, tax_breakdown_of
from app.invoices.tax_category import stored_category
from app.invoices.totals import amount_due_of
from app.organizations.models import Books

# Each credit note's id is kept on its invoice (so none is applied twice): a bound on the invoice's size.
MAX_CREDIT_NOTES = 100
# Every lost round means another write to the invoice succeeded; twenty notes racing need at most twenty.
CREDIT_ROUNDS = 60


@dataclass(frozen=True)
class GroupAmount:
    """One (category, rate) group's taxable amount and tax, in cents."""

    category: str
    rate: Decimal
    taxable_cents: int
    tax_cents: int


@dataclass(frozen=True)
class Creditable:
    """An invoice as a credit note of it needs it: its groups, what is credited already (aligned with
    `groups`), and what a line without its own tax defaults to."""

    id: Any
    number: str
    issue_date: date
    client_id: Any
    currency: str
    tax_rate: Decimal
    tax_category: str
    tax_exemption_reason: str | None
    total_cents: int
    amount_credited_cents: int
    groups: tuple[GroupAmount, ...]
    credited: tuple[GroupAmount, ...]

    def left(self) -> tuple[GroupAmount, ...]:
        """Per group, what no credit note has credited yet."""
        return tuple(
            GroupAmount(g.category, g.rate, g.taxable_cents - c.taxable_cents, g.tax_cents - c.tax_cents)
            for g, c in zip(self.groups, self.credited, strict=True)
        )


def _key(category: str, rate: Decimal) -> tuple[str, Decimal]:
    return (category, plain_rate(rate))


def _groups(invoice: Invoice) -> tuple[GroupAmount, ...]:
    return tuple(
        GroupAmount(g.category, plain_rate(g.rate), g.taxable_cents, g.tax_cents)
        for g in tax_breakdown_of(invoice)
    )


def _credited(invoice: Invoice, groups: Sequence[GroupAmount]) -> tuple[GroupAmount, ...]:
    """What is credited per group of `groups`, in that order (0 for a group nothing credited yet)."""
    found = {_key(c.category, c.rate): c for c in invoice.credited}
    amounts = []
    for group in groups:
        credited = found.get(_key(group.category, group.rate))
        taxable, tax = (credited.taxable_cents, credited.tax_cents) if credited else (0, 0)
        amounts.append(GroupAmount(group.category, group.rate, taxable, tax))
    return tuple(amounts)


def _ready(invoice: Invoice) -> None:
    """409 unless the invoice may be credited now: sent or paid, and numbered."""
    require(invoice, "credit")
    if invoice.number is None:  # sent, but the number step was cut short: recovery finishes it
        raise InvalidState(f"Invoice {invoice.id} is being sent; try again shortly")


async def creditable(owner: Books, invoice_id: str, expected: Expected = ANY) -> Creditable:
    """The invoice a credit note is asked for: 404 if it is not the caller's, 412 if it is not at a version
    `expected` names (If-Match), 409 unless sent or paid."""
    invoice = await get_owned(Invoice, invoice_id, owner.id, expected)
    _ready(invoice)
    assert invoice.number is not None
    groups = _groups(invoice)
    return Creditable(
        id=invoice.id,
        number=invoice.number,
        issue_date=invoice.issue_date,
        client_id=invoice.client_id,
        currency=invoice.currency,
        tax_rate=invoice.tax_rate,
        tax_category=stored_category(invoice.tax_category, invoice.tax_rate).value,
        tax_exemption_reason=invoice.tax_exemption_reason,
        total_cents=invoice.total_cents,
        amount_credited_cents=invoice.amount_credited_cents,
        groups=groups,
        credited=_credited(invoice, groups),
    )


def over_the_invoice(field: str, group: GroupAmount, what: str, limit: int) -> ValidationFailed:
    return ValidationFailed.field(
        field,
        f"the credited {what} of group {group.category} {group.rate:f}% would exceed the invoice's "
        f"({from_cents(limit)}) with the credit notes issued before",
    )


def within(
    groups: Sequence[GroupAmount], credited: Sequence[GroupAmount], note: Sequence[GroupAmount]
) -> list[GroupAmount]:
    """The credited amounts per group of `groups` after `note` (400 validation_error when a group of the
    note is not one of the invoice's, or when its credited taxable amount or tax would pass the invoice's)."""
    index = {_key(g.category, g.rate): i for i, g in enumerate(groups)}
    after = list(credited)
    for part in note:
        i = index.get(_key(part.category, part.rate))
        if i is None:
            raise ValidationFailed.field(
                "lines", f"group {part.category} {part.rate:f}% is not one of the invoice's tax groups"
            )
        now = after[i]
        taxable, tax = now.taxable_cents + part.taxable_cents, now.tax_cents + part.tax_cents
        if taxable > groups[i].taxable_cents:
            raise over_the_invoice("lines", groups[i], "taxable amount", groups[i].taxable_cents)
        if tax > groups[i].tax_cents:
            raise over_the_invoice("lines", groups[i], "tax", groups[i].tax_cents)
        after[i] = GroupAmount(now.category, now.rate, taxable, tax)
    return after


async def apply_credit(
    owner: Books,
    invoice_id: OwnerId,
    note_id: OwnerId,
    note: Sequence[GroupAmount],
    expected: Expected = ANY,
) -> Invoice:
    """Add the credit note `note_id` (its amounts per group) to the invoice: one conditional update pinned
    to the version read, retried while other writes land in between. Idempotent: a note applied already
    answers with the invoice as it is. 409 unless the invoice is sent or paid; 400 when a group would be
    credited beyond the invoice's; 412 when the invoice moved past the version `expected` names (the request's
    If-Match: checked on every read, so a write that landed meanwhile makes it 412, not a retry)."""
    amount = sum(part.taxable_cents + part.tax_cents for part in note)

    async def attempt() -> Invoice | None:
        invoice = await get_owned(Invoice, str(invoice_id), owner.id)
        if note_id in invoice.credit_note_ids:
            return invoice  # an earlier run (the request's, or the recovery's) applied it
        expected.check(invoice.version)
        _ready(invoice)
        if len(invoice.credit_note_ids) >= MAX_CREDIT_NOTES:
            raise TooManyCreditNotes(
                f"Invoice {invoice.number} already has {MAX_CREDIT_NOTES} credit notes, the most one keeps"
            )
        groups = _groups(invoice)
        credited = within(groups, _credited(invoice, groups), note)
        total_credited = invoice.amount_credited_cents + amount
        due, _ = amount_due_of(
            from_cents(invoice.total_cents), from_cents(invoice.amount_paid_cents), from_cents(total_credited)
        )
        fields: dict[str, Any] = {
            "credited": [
                StoredTaxGroup(
                    category=c.category, rate=c.rate, taxable_cents=c.taxable_cents, tax_cents=c.tax_cents
                )
                for c in credited
                if c.taxable_cents or c.tax_cents
            ],
            "amount_credited_cents": total_credited,
            "amount_due_cents": to_cents(due),
        }
        event = "invoice.updated"
        if LIFECYCLE.allows(invoice.status, "settle") and due == 0:
            fields.update(status=LIFECYCLE.target("settle"), paid_at=utc_now())  # as a payment settles it
            event = "invoice.paid"
        return await update_owned(
            Invoice,
            invoice.id,
            owner.id,
            fields,
            where={**LIFECYCLE.where("credit"), **at_version(invoice)},
            extra={"$push": {"credit_note_ids": note_id}},
            event=pending(event),
        )

    async def gave_up() -> InvalidState:
        return refuse(
            await get_owned(Invoice, str(invoice_id), owner.id), "credit", "it kept changing; try again"
        )

    invoice = await compare_and_set(attempt, gave_up, attempts=CREDIT_ROUNDS)
    await publish(invoice)
    return invoice


async def is_applied(owner_id: OwnerId, invoice_id: OwnerId, note_id: OwnerId) -> bool:
    """Whether the credit note `note_id` was applied to the invoice (for the credit notes' recovery)."""
    found = await Invoice.get_motor_collection().find_one(
        owned_filter(owner_id, _id=invoice_id, credit_note_ids=note_id), {"_id": 1}
    )
    return found is not None


async def invoice_id_of(owner: Books, invoice_id: str) -> Any:
    """The id of the caller's invoice `invoice_id` (404 unless it is theirs): its credit notes' list."""
    invoice = await get_owned(Invoice, invoice_id, owner.id)
    return invoice.id
