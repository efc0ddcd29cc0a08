from __future__ import annotations

from datetime import date
from typing import Any

from beanie import PydanticObjectId
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from app.auth.models import Caller
from app.core.errors import Conflict, InvalidReference, InvalidState, QuotaExceeded, raises
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.documents.errors import DocumentTooLarge, EInvoiceInvalid, RenderTimeout
from app.documents.model import Report
from app.http.pagination import id_filter
from app.http.schemas import FileBytes, created
from app.http.tenancy import requires
from app.invoices import lifecycle, rendering, service
from app.invoices.errors import CreditNoteRequired, TooManyPayments
from app.invoices.schemas import (
    InvoiceCreate,
    InvoiceFilters,
    InvoiceOut,
    InvoicePage,
    InvoiceStatus,
    InvoiceUpdate,
    PaymentCreate,
)
from app.time_entries.errors import AlreadyInvoiced

# What every route that renders or validates may answer: its organisation's renders are all taken, or the
# render ran too long (API.md section 24).
RENDERING = (QuotaExceeded, RenderTimeout)

PDF = "application/pdf"
XML = "application/xml"


def provide_invoice_filters(
    status: InvoiceStatus | None = Parameter(default=None, description="Only this status"),
    client_id: str | None = id_filter("client"),
    project_id: str | None = id_filter("project"),
    overdue: bool | None = Parameter(default=None, description="true: sent and past due; false: all others"),
    issued_from: date | None = Parameter(query="from", default=None, description="issue_date on or after"),
    issued_to: date | None = Parameter(query="to", default=None, description="issue_date on or before"),
    q: str | None = Parameter(default=None, max_length=100, description="Substring of the number, any case"),
) -> InvoiceFilters:
    return InvoiceFilters(
        status=status,
        client_id=client_id,
        project_id=project_id,
        overdue=overdue,
        issued_from=issued_from,
        issued_to=issued_to,
        q=q,
    )


class InvoiceController(Controller):
    path = "/invoices"
    tags = ["invoices"]
    dependencies = {
        "filters": Provide(provide_invoice_filters, sync_to_thread=False),
    }

    @get(
        "/",
        operation_id="listInvoices",
        opt={**requires(Role.VIEWER, scope="invoices"), **sorted_by(service.SORTS)},
    )
    async def list_invoices(self, caller: Caller, page: PageParams, filters: InvoiceFilters) -> InvoicePage:
        """The caller's invoices. Sorts: `issue_date`, `due_date`, `total`, `number`, `created_at`."""
        # `caller`: the organisation's profile (its time zone, for `is_overdue` and `overdue=`) is joined to
        # the authenticating lookup, in the same round trip.
        return await service.list_invoices(caller, page, filters)

    @post(
        "/",
        operation_id="createInvoice",
        opt={**requires(Role.BILLING, scope="invoices"), **raises(InvalidReference, AlreadyInvoiced)},
    )
    async def create_invoice(
        self, data: InvoiceCreate, caller: Caller, new_id: PydanticObjectId | None
    ) -> Response[InvoiceOut]:
        """Create a draft from lines and/or time entries; the server computes every amount."""
        return created(
            InvoiceOut.from_document(await service.create_invoice(caller, data, new_id)),
            "/api/invoices",
        )

    @get("/{invoice_id:str}", operation_id="getInvoice", opt=requires(Role.VIEWER, scope="invoices"))
    async def get_invoice(self, invoice_id: str, caller: Caller) -> InvoiceOut:
        """One invoice."""
        return await service.get_invoice(caller, invoice_id)  # `caller`: the zone `is_overdue` reads

    @patch(
        "/{invoice_id:str}",
        operation_id="updateInvoice",
        opt={**requires(Role.BILLING, scope="invoices"), **raises(InvalidReference, InvalidState, Conflict)},
    )
    async def update_invoice(
        self, invoice_id: str, data: InvoiceUpdate, caller: Caller, expected: Expected
    ) -> InvoiceOut:
        """Change a draft (else 409 invalid_state); totals are recomputed."""
        return InvoiceOut.from_document(await service.update_invoice(caller, invoice_id, data, expected))

    @delete(
        "/{invoice_id:str}",
        operation_id="deleteInvoice",
        opt={**requires(Role.BILLING, scope="invoices"), **raises(InvalidState)},
    )
    async def delete_invoice(self, invoice_id: str, caller: Caller, expected: Expected) -> None:
        """Delete a draft and release its time entries (else 409 invalid_state)."""
        await service.delete_invoice(caller, invoice_id, expected)

    @post(
        "/{invoice_id:str}/send",
        operation_id="sendInvoice",
        status_code=200,
        opt={
            **requires(Role.BILLING, scope="invoices"),
            **raises(InvalidState, EInvoiceInvalid, DocumentTooLarge, *RENDERING),
        },
    )
    async def send_invoice(self, invoice_id: str, caller: Caller, expected: Expected) -> InvoiceOut:
        """Finalize a draft with lines: assigns the next number and sets sent_at."""
        return InvoiceOut.from_document(await lifecycle.send_invoice(caller, invoice_id, expected))

    @post(
        "/{invoice_id:str}/payments",
        operation_id="addInvoicePayment",
        opt={**requires(Role.BILLING, scope="invoices"), **raises(InvalidState, TooManyPayments, Conflict)},
    )
    async def add_payment(
        self,
        invoice_id: str,
        data: PaymentCreate,
        caller: Caller,
        expected: Expected,
        new_id: PydanticObjectId | None,
    ) -> InvoiceOut:
        """Record a payment on a sent invoice (0 < amount ≤ amount_due); the last one marks it paid."""
        invoice = await lifecycle.add_payment(caller, invoice_id, data, expected, new_id)
        return InvoiceOut.from_document(invoice)

    @post(
        "/{invoice_id:str}/void",
        operation_id="voidInvoice",
        status_code=200,
        opt={**requires(Role.BILLING, scope="invoices"), **raises(InvalidState, CreditNoteRequired)},
    )
    async def void_invoice(self, invoice_id: str, caller: Caller, expected: Expected) -> InvoiceOut:
        """Void a draft or a sent invoice without payments or credit notes; releases its time entries. A
        sent e-invoice (Factur-X) is corrected by a credit note instead: 409 `credit_note_required`."""
        return InvoiceOut.from_document(await lifecycle.void_invoice(caller, invoice_id, expected))

    @get(
        "/{invoice_id:str}/pdf",
        operation_id="getInvoicePdf",
        media_type=PDF,
        content_media_type=PDF,
        response_description="The invoice's PDF, as an attachment named after its number",
        opt={
            **requires(Role.VIEWER, scope="invoices"),
            **raises(InvalidState, EInvoiceInvalid, DocumentTooLarge, *RENDERING),
        },
    )
    async def get_pdf(
        self, invoice_id: str, caller: Caller, request: Request[Any, Any, Any]
    ) -> Response[FileBytes]:
        """The PDF: a draft rendered now and marked DRAFT; a sent invoice's stored document, byte-identical
        on every download (`ETag` = its SHA-256)."""
        file = await rendering.pdf(caller, invoice_id)
        headers = {"Content-Disposition": f'attachment; filename="{file.filename}"'}
        if file.etag is None:
            return Response(file.content, media_type=PDF, headers=headers)
        etag = f'"{file.etag}"'
        headers["ETag"] = etag
        if etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=304, headers={"ETag": etag})
        return Response(file.content, media_type=PDF, headers=headers)

    @get(
        "/{invoice_id:str}/e-invoice",
        operation_id="getInvoiceEInvoice",
        media_type=XML,
        content_media_type=XML,
        response_description="The invoice's Factur-X XML (UN/CEFACT CII, EN 16931 profile)",
        opt={**requires(Role.VIEWER, scope="invoices"), **raises(*RENDERING)},
    )
    async def get_e_invoice(self, invoice_id: str, caller: Caller) -> Response[FileBytes]:
        """The Factur-X (EN 16931 CII) XML: as stored for a sent invoice, built now for a draft."""
        return Response(await rendering.e_invoice(caller, invoice_id), media_type=XML)

    @post(
        "/{invoice_id:str}/validate",
        operation_id="validateInvoice",
        status_code=200,
        opt={**requires(Role.BILLING, scope="invoices"), **raises(InvalidState, *RENDERING)},
    )
    async def validate_invoice(self, invoice_id: str, caller: Caller, expected: Expected) -> Report:
        """Run the EN 16931 check (XSD and Schematron) that send runs, on a draft."""
        return await rendering.validate(caller, invoice_id, expected)
