from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.auth.schemas import EInvoice
from app.core.clock import check_date_order, stored_date, today_utc
from app.core.money import (
    check_money,
    check_quantity,
    check_rate,
    format_cents,
    format_rate,
    stored_decimal,
)
from app.core.schemas import (
    BaseStruct,
    MoneyOut,
    ObjectIdStr,
    Page,
    RateOut,
    ResponseStruct,
    component,
    not_blank,
    stored_fields,
)
from app.invoices.documents import Invoice, StoredLine, StoredPayment
from app.invoices.tax_category import TaxCategory, stored_category

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


class LineIn(BaseStruct):
    description: LineDescription
    quantity: Quantity
    unit_price: MoneyIn

    def __post_init__(self) -> None:
        self.description = not_blank(self.description, "description")
        check_quantity(self.quantity, "quantity")
        check_money(self.unit_price, "unit_price")


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
        self.tax_exemption_reason = _reason(self.tax_exemption_reason)
        if len(set(self.time_entry_ids)) != len(self.time_entry_ids):
            raise ValueError("time_entry_ids: must not repeat an id")
        if self.tax_rate is not None:
            check_rate(self.tax_rate, "tax_rate")
        check_rate(self.discount_rate, "discount_rate")
        check_date_order(
            self.issue_date or (today_utc() if self.due_date else None),
            self.due_date,
            "issue_date",
            "due_date",
        )


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
        if self.tax_exemption_reason is not UNSET:
            self.tax_exemption_reason = _reason(self.tax_exemption_reason)
        if self.tax_rate is not UNSET:
            check_rate(self.tax_rate, "tax_rate")
        if self.discount_rate is not UNSET:
            check_rate(self.discount_rate, "discount_rate")
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


class LineOut(ResponseStruct):
    description: str
    quantity: Annotated[str, msgspec.Meta(examples=["1.50"])]
    unit_price: MoneyOut
    amount: MoneyOut
    time_entry_id: str | None

    @classmethod
    def from_stored(cls, line: StoredLine) -> LineOut:
        return cls(
            description=line.description,
            quantity=format_quantity(line.quantity),
            unit_price=format_cents(line.unit_price_cents),
            amount=format_cents(line.amount_cents),
            time_entry_id=str(line.time_entry_id) if line.time_entry_id else None,
        )

    @classmethod
    def from_raw(cls, line: dict[str, Any]) -> LineOut:
        """from_stored, from the driver's document."""
        entry = line.get("time_entry_id")
        return cls(
            description=line["description"],
            quantity=format_quantity(stored_decimal(line["quantity"])),
            unit_price=format_cents(line["unit_price_cents"]),
            amount=format_cents(line["amount_cents"]),
            time_entry_id=str(entry) if entry else None,
        )


class PaymentOut(ResponseStruct):
    id: str
    amount: MoneyOut
    paid_on: date
    method: str | None
    note: str | None
    created_at: datetime

    @classmethod
    def from_stored(cls, payment: StoredPayment) -> PaymentOut:
        return cls(
            id=str(payment.id),
            amount=format_cents(payment.amount_cents),
            paid_on=payment.paid_on,
            method=payment.method,
            note=payment.note,
            created_at=payment.created_at,
        )

    @classmethod
    def from_raw(cls, payment: dict[str, Any]) -> PaymentOut:
        """from_stored, from the driver's document."""
        return cls(
            id=str(payment["id"]),
            amount=format_cents(payment["amount_cents"]),
            paid_on=stored_date(payment["paid_on"]),
            method=payment.get("method"),
            note=payment.get("note"),
            created_at=payment["created_at"],
        )


class DocumentOut(ResponseStruct):
    sha256: str
    size: int
    e_invoice: EInvoice
    rendered_at: datetime


class InvoiceOut(ResponseStruct):
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
    total: MoneyOut
    amount_paid: MoneyOut
    amount_due: MoneyOut
    payments: list[PaymentOut]
    document: DocumentOut | None
    sent_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    created_at: datetime
    updated_at: datetime

    STORED: ClassVar[dict[str, Literal[1]]] = stored_fields(
        "number",
        "client_id",
        "project_id",
        "status",
        "currency",
        "issue_date",
        "due_date",
        "lines",
        "notes",
        "tax_rate",
        "tax_category",
        "tax_exemption_reason",
        "discount_rate",
        "subtotal_cents",
        "discount_cents",
        "tax_cents",
        "total_cents",
        "amount_paid_cents",
        "amount_due_cents",
        "payments",
        "document",
        "sent_at",
        "paid_at",
        "voided_at",
        "created_at",
        "updated_at",
    )

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> InvoiceOut:
        """What from_document gives, from the driver's document (a missing optional field reads as the Invoice
        model's default; dates and decimals as the model reads them)."""
        status = raw.get("status", "draft")
        due_date = stored_date(raw["due_date"])
        tax_rate = stored_decimal(raw["tax_rate"])
        project_id = raw.get("project_id")
        document = raw.get("document")
        return cls(
            id=str(raw["_id"]),
            number=raw.get("number"),
            client_id=str(raw["client_id"]),
            project_id=str(project_id) if project_id else None,
            status=status,
            is_overdue=status == "sent" and due_date < today_utc(),
            currency=raw["currency"],
            issue_date=stored_date(raw["issue_date"]),
            due_date=due_date,
            lines=[LineOut.from_raw(line) for line in raw.get("lines", ())],
            notes=raw.get("notes", ""),
            tax_rate=format_rate(tax_rate),
            tax_category=stored_category(raw.get("tax_category"), tax_rate),
            tax_exemption_reason=raw.get("tax_exemption_reason"),
            discount_rate=format_rate(stored_decimal(raw["discount_rate"])),
            subtotal=format_cents(raw.get("subtotal_cents", 0)),
            discount=format_cents(raw.get("discount_cents", 0)),
            tax=format_cents(raw.get("tax_cents", 0)),
            total=format_cents(raw.get("total_cents", 0)),
            amount_paid=format_cents(raw.get("amount_paid_cents", 0)),
            amount_due=format_cents(raw.get("amount_due_cents", 0)),
            payments=[PaymentOut.from_raw(payment) for payment in raw.get("payments", ())],
            document=msgspec.convert(document, DocumentOut) if document else None,
            sent_at=raw.get("sent_at"),
            paid_at=raw.get("paid_at"),
            voided_at=raw.get("voided_at"),
            created_at=raw["created_at"],
            updated_at=raw["updated_at"],
        )

    @classmethod
    def from_document(cls, invoice: Invoice) -> InvoiceOut:
        return cls(
            id=str(invoice.id),
            number=invoice.number,
            client_id=str(invoice.client_id),
            project_id=str(invoice.project_id) if invoice.project_id else None,
            status=invoice.status,  # type: ignore[arg-type]
            is_overdue=invoice.status == "sent" and invoice.due_date < today_utc(),
            currency=invoice.currency,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            lines=[LineOut.from_stored(line) for line in invoice.lines],
            notes=invoice.notes,
            tax_rate=format_rate(invoice.tax_rate),
            tax_category=stored_category(invoice.tax_category, invoice.tax_rate),
            tax_exemption_reason=invoice.tax_exemption_reason,
            discount_rate=format_rate(invoice.discount_rate),
            subtotal=format_cents(invoice.subtotal_cents),
            discount=format_cents(invoice.discount_cents),
            tax=format_cents(invoice.tax_cents),
            total=format_cents(invoice.total_cents),
            amount_paid=format_cents(invoice.amount_paid_cents),
            amount_due=format_cents(invoice.amount_due_cents),
            payments=[PaymentOut.from_stored(payment) for payment in invoice.payments],
            document=msgspec.convert(invoice.document.model_dump(), DocumentOut)
            if invoice.document
            else None,
            sent_at=invoice.sent_at,
            paid_at=invoice.paid_at,
            voided_at=invoice.voided_at,
            created_at=invoice.created_at,
            updated_at=invoice.updated_at,
        )


InvoicePage = Annotated[Page[InvoiceOut], component("InvoicePage")]
