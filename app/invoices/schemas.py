from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from app.auth.schemas import EInvoice
from app.core.clock import business_today, check_date_order
from app.core.money import check_money, check_quantity, check_rate, format_money, format_rate, from_cents
from app.db.pagination import Page
from app.http.mapping import Computed, Mapped, Source, cents
from app.http.schemas import (
    ActorOut,
    BaseStruct,
    MoneyOut,
    ObjectIdStr,
    RateOut,
    ResponseStruct,
    component,
    not_blank,
)
from app.invoices.models import (
    Invoice,
    StoredLine,
    StoredPayment,
    StoredPeriod,
    StoredTaxGroup,
    single_group,
)
from app.invoices.tax_category import TaxCategory, stored_category
from app.invoices.totals import amount_due_of

MAX_LINES = 200


class InvoiceStatus(StrEnum):
    """Where an invoice is in its lifecycle: draft → sent → paid, or void."""

    DRAFT = "draft"
    SENT = "sent"
    PAID = "paid"
    VOID = "void"


LineDescription = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Notes = Annotated[str, msgspec.Meta(max_length=10_000)]
TimeEntryIds = Annotated[
    list[ObjectIdStr],
    msgspec.Meta(
        max_length=MAX_LINES, description="Stopped, billable, not yet invoiced entries of the client"
    ),
]
Quantity = Annotated[
    Decimal, msgspec.Meta(description="Greater than 0, up to 4 decimal places", examples=["1.5"])
]
MoneyIn = Annotated[
    Decimal, msgspec.Meta(description="A string or JSON number, up to 2 places", examples=["19.99"])
]
ExemptionReason = Annotated[
    str,
    msgspec.Meta(
        max_length=300,
        description="BT-120, printed on the document; refused for S and Z",
        examples=["Kleinunternehmer gemäß § 19 UStG"],
    ),
]
RateIn = Annotated[Decimal, msgspec.Meta(description="Percent, 0 to 100, 4 places max", examples=["8.875"])]


def _reason(value: str | None) -> str | None:
    """Trimmed; blank means none."""
    return (value.strip() or None) if value is not None else None


def check_tax_input(body: Any) -> None:
    """The tax fields of a body that bills (an invoice's, a recurring schedule's, created or edited): the
    exemption reason trimmed (blank is none), the rates 0–100; a field left out (UNSET, None) is skipped."""
    if isinstance(body.tax_exemption_reason, str):
        body.tax_exemption_reason = _reason(body.tax_exemption_reason)
    if isinstance(body.tax_rate, Decimal):
        check_rate(body.tax_rate, "tax_rate")
    if isinstance(body.discount_rate, Decimal):
        check_rate(body.discount_rate, "discount_rate")


class LineIn(BaseStruct):
    """A line may carry its own VAT (section 22); without either field it is taxed as the invoice is."""

    description: LineDescription
    quantity: Quantity
    unit_price: MoneyIn
    tax_rate: RateIn | None = None
    tax_category: TaxCategory | None = None

    def __post_init__(self) -> None:
        self.description = not_blank(self.description, "description")
        check_quantity(self.quantity, "quantity")
        check_money(self.unit_price, "unit_price")
        if self.tax_rate is not None:
            check_rate(self.tax_rate, "tax_rate")


Lines = Annotated[list[LineIn], msgspec.Meta(max_length=MAX_LINES)]


class InvoiceCreate(BaseStruct):
    """Totals are never accepted: the server computes them from the lines and rates."""

    client_id: ObjectIdStr
    project_id: ObjectIdStr | None = None
    lines: Lines = []
    time_entry_ids: TimeEntryIds = []
    notes: Notes = ""
    tax_rate: RateIn | None = None
    tax_category: TaxCategory | None = None
    tax_exemption_reason: ExemptionReason | None = None
    discount_rate: RateIn = Decimal(0)
    issue_date: date | None = None
    due_date: date | None = None

    def __post_init__(self) -> None:
        check_tax_input(self)
        if len(set(self.time_entry_ids)) != len(self.time_entry_ids):
            raise ValueError("time_entry_ids: must not repeat an id")
        # Without an issue_date, the service checks due_date against today in the organisation's zone.
        check_date_order(self.issue_date, self.due_date, "issue_date", "due_date")


class InvoiceUpdate(BaseStruct):
    """Drafts only. `lines` replaces the hand-written lines; lines made from time entries stay."""

    project_id: ObjectIdStr | UnsetType | None = UNSET
    lines: Lines | UnsetType = UNSET
    notes: Notes | UnsetType = UNSET
    tax_rate: RateIn | UnsetType = UNSET
    tax_category: TaxCategory | UnsetType = UNSET
    tax_exemption_reason: ExemptionReason | UnsetType | None = UNSET
    discount_rate: RateIn | UnsetType = UNSET
    issue_date: date | UnsetType = UNSET
    due_date: date | UnsetType = UNSET

    def __post_init__(self) -> None:
        check_tax_input(self)
        if self.issue_date is not UNSET and self.due_date is not UNSET:
            check_date_order(self.issue_date, self.due_date, "issue_date", "due_date")


class PaymentCreate(BaseStruct):
    amount: MoneyIn
    paid_on: date | None = None
    method: Annotated[str, msgspec.Meta(max_length=50, examples=["bank_transfer"])] | None = None
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None

    def __post_init__(self) -> None:
        check_money(self.amount, "amount", positive=True)


class InvoiceFilters(msgspec.Struct, frozen=True, kw_only=True):
    """The list filters, parsed from the query string by the controller."""

    status: InvoiceStatus | None = None
    client_id: str | None = None
    project_id: str | None = None
    overdue: bool | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    q: str | None = None


def format_quantity(value: Decimal) -> str:
    """As stored ('1.5', '1.50', '0.3333'), never with an exponent."""
    return f"{value:f}"


class LineOut(ResponseStruct, Mapped):
    """`tax_rate` and `tax_category` are the line's effective VAT: its own, else the invoice's."""

    description: str
    quantity: Annotated[str, msgspec.Meta(examples=["1.50"])]
    unit_price: MoneyOut
    amount: MoneyOut
    tax_rate: RateOut
    tax_category: TaxCategory
    time_entry_id: str | None

    SOURCE = Source(
        StoredLine,
        quantity=format_quantity,
        unit_price=cents("unit_price_cents"),
        amount=cents("amount_cents"),
        tax_rate=format_rate,  # the line's own (None here): `lines_out` puts the effective one
        time_entry_id=str,
    )


class TaxGroupOut(ResponseStruct, Mapped):
    """One (category, rate) group of the lines (section 22): its taxable amount (after its share of the
    discount) and its tax."""

    category: TaxCategory
    rate: RateOut
    taxable_amount: MoneyOut
    tax: MoneyOut

    SOURCE = Source(
        StoredTaxGroup,
        id_key="category",
        rate=format_rate,
        taxable_amount=cents("taxable_cents"),
        tax=cents("tax_cents"),
    )


def lines_out(lines: list[Any], tax_rate: Decimal, tax_category: str | None) -> list[LineOut]:
    """The lines (stored models, or the driver's dicts) with each one's effective VAT."""
    category = stored_category(tax_category, tax_rate)
    rate = format_rate(tax_rate)
    out = []
    for line in lines:
        own = LineOut.from_raw(line) if isinstance(line, dict) else LineOut.from_document(line)
        effective = {
            "tax_rate": own.tax_rate or rate,
            "tax_category": TaxCategory(own.tax_category) if own.tax_category else category,
        }
        out.append(msgspec.structs.replace(own, **effective))
    return out


def breakdown_out(
    breakdown: list[Any] | None,
    has_lines: bool,
    tax_rate: Decimal,
    tax_category: str | None,
    subtotal_cents: int,
    discount_cents: int,
    tax_cents: int,
) -> list[TaxGroupOut]:
    """The stored groups; an invoice stored before section 22 shows its one group (none without lines)."""
    if breakdown is None:
        if not has_lines:
            return []
        legacy = single_group(tax_category, tax_rate, subtotal_cents, discount_cents, tax_cents)
        return [TaxGroupOut.from_document(legacy)]
    return [
        TaxGroupOut.from_raw(group) if isinstance(group, dict) else TaxGroupOut.from_document(group)
        for group in breakdown
    ]


class PaymentOut(ResponseStruct, Mapped):
    id: str
    amount: MoneyOut
    paid_on: date
    method: str | None
    note: str | None
    created_at: datetime

    SOURCE = Source(
        StoredPayment,
        id_key="id",
        amount=cents("amount_cents"),
    )


class PeriodOut(ResponseStruct, Mapped):
    """The days a recurring schedule's invoice bills, both inclusive (section 23)."""

    start: date
    end: date

    SOURCE = Source(StoredPeriod)


class DocumentOut(ResponseStruct):
    sha256: str
    size: int
    e_invoice: EInvoice
    rendered_at: datetime


def overdue_today(status: str, due_date: date, amount_due_cents: int) -> bool:
    """Sent, something still due, and due before today in the organisation's time zone (API.md 8, 22)."""
    today = business_today()  # read first: a response mapped where no zone is known fails loudly
    return status == "sent" and amount_due_cents > 0 and due_date < today


def _refund_due(total_cents: int, paid_cents: int, credited_cents: int) -> str:
    """Paid beyond what is still owed after credits (section 22), as a money string."""
    _, refund = amount_due_of(from_cents(total_cents), from_cents(paid_cents), from_cents(credited_cents))
    return format_money(refund)


class InvoiceOut(ResponseStruct, Mapped):
    id: str
    number: str | None
    client_id: str
    project_id: str | None
    status: InvoiceStatus
    is_overdue: bool
    currency: str
    issue_date: date
    due_date: date
    lines: list[LineOut]
    notes: str
    tax_rate: RateOut
    tax_category: TaxCategory
    tax_exemption_reason: str | None
    discount_rate: RateOut
    subtotal: MoneyOut
    discount: MoneyOut
    tax: MoneyOut
    tax_breakdown: list[TaxGroupOut]  # section 22: by category code, then rate
    total: MoneyOut
    amount_paid: MoneyOut
    amount_due: MoneyOut
    amount_credited: MoneyOut  # section 22: the sum of the invoice's credit notes
    refund_due: MoneyOut  # section 22: what was paid beyond what is still owed after credits
    payments: list[PaymentOut]
    document: DocumentOut | None
    sent_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    created_by: ActorOut | None  # API.md section 19; null on invoices stored before it was recorded
    # Section 23: the schedule that made it and the period it bills; null on invoices made by hand.
    recurring_invoice_id: str | None
    period: PeriodOut | None
    created_at: datetime
    updated_at: datetime

    SOURCE = Source(
        Invoice,
        client_id=str,
        project_id=str,
        recurring_invoice_id=str,
        is_overdue=Computed(overdue_today, "status", "due_date", "amount_due_cents"),
        lines=Computed(lines_out, "lines", "tax_rate", "tax_category"),
        tax_breakdown=Computed(
            lambda breakdown, lines, *rest: breakdown_out(breakdown, bool(lines), *rest),
            "tax_breakdown",
            "lines",
            "tax_rate",
            "tax_category",
            "subtotal_cents",
            "discount_cents",
            "tax_cents",
        ),
        tax_rate=format_rate,
        tax_category=Computed(stored_category, "tax_category", "tax_rate"),
        discount_rate=format_rate,
        subtotal=cents("subtotal_cents"),
        discount=cents("discount_cents"),
        tax=cents("tax_cents"),
        total=cents("total_cents"),
        amount_paid=cents("amount_paid_cents"),
        amount_due=cents("amount_due_cents"),
        amount_credited=cents("amount_credited_cents"),
        refund_due=Computed(_refund_due, "total_cents", "amount_paid_cents", "amount_credited_cents"),
    )


InvoicePage = Annotated[Page[InvoiceOut], component("InvoicePage")]
