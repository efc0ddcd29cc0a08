from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide

from app.auth.models import Caller
from app.core.errors import Conflict, InvalidState, QuotaExceeded, raises
from app.core.roles import Role
from app.credit_notes import rendering, service
from app.credit_notes.schemas import CreditNoteCreate, CreditNoteFilters, CreditNoteOut, CreditNotePage
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.documents.errors import DocumentTooLarge, EInvoiceInvalid, RenderTimeout
from app.http.pagination import id_filter
from app.http.schemas import FileBytes, created
from app.http.tenancy import requires
from app.invoices.errors import TooManyCreditNotes

PDF = "application/pdf"
RENDERING = (QuotaExceeded, RenderTimeout)


def provide_credit_note_filters(
    invoice_id: str | None = id_filter("invoice"),
    client_id: str | None = id_filter("client"),
) -> CreditNoteFilters:
    return CreditNoteFilters(invoice_id=invoice_id, client_id=client_id)


class InvoiceCreditNoteController(Controller):
    """A credit note is issued for an invoice, under the invoice's path."""

    path = "/invoices"
    tags = ["credit notes"]

    @post(
        "/{invoice_id:str}/credit-notes",
        operation_id="createCreditNote",
        opt={
            **requires(Role.BILLING, scope="invoices"),
            **raises(
                InvalidState, TooManyCreditNotes, Conflict, EInvoiceInvalid, DocumentTooLarge, *RENDERING
            ),
        },
    )
    async def create_credit_note(
        self,
        invoice_id: str,
        data: CreditNoteCreate,
        caller: Caller,
        expected: Expected,
        new_id: PydanticObjectId | None,
    ) -> Response[CreditNoteOut]:
        """Issue a credit note of a sent or paid invoice (else 409 `invalid_state`): the given lines, or
        without `lines` everything not credited yet. Each line's (category, rate) must be one of the
        invoice's tax groups, and per group the credited taxable amount and tax (with earlier notes) may not
        exceed the invoice's (400). The note takes the next number of its own sequence
        (`{credit_note_prefix}{n:04d}`); its document is rendered and checked (Factur-X: 422
        `e_invoice_invalid`) before the number is taken. The invoice's `amount_credited` grows, its
        `amount_due` falls, and a sent invoice with nothing left due is `paid`. `If-Match` names the
        invoice's version."""
        note = await service.create_credit_note(caller, invoice_id, data, new_id, expected)
        return created(CreditNoteOut.from_document(note), "/api/credit-notes")

    @get(
        "/{invoice_id:str}/credit-notes",
        operation_id="listInvoiceCreditNotes",
        opt={**requires(Role.VIEWER, scope="invoices"), **sorted_by(service.INVOICE_SORTS)},
    )
    async def list_invoice_credit_notes(
        self, invoice_id: str, caller: Caller, page: PageParams
    ) -> CreditNotePage:
        """The invoice's credit notes. Sort: `created_at` (default newest first)."""
        return await service.list_for_invoice(caller, invoice_id, page)


class CreditNoteController(Controller):
    path = "/credit-notes"
    tags = ["credit notes"]
    dependencies = {"filters": Provide(provide_credit_note_filters, sync_to_thread=False)}

    @get(
        "/",
        operation_id="listCreditNotes",
        opt={**requires(Role.VIEWER, scope="invoices"), **sorted_by(service.SORTS)},
    )
    async def list_credit_notes(
        self, caller: Caller, page: PageParams, filters: CreditNoteFilters
    ) -> CreditNotePage:
        """The organisation's credit notes. Sorts: `number`, `issue_date`, `created_at`; filters
        `invoice_id`, `client_id`."""
        return await service.list_credit_notes(caller, page, filters)

    @get(
        "/{credit_note_id:str}",
        operation_id="getCreditNote",
        opt=requires(Role.VIEWER, scope="invoices"),
    )
    async def get_credit_note(self, credit_note_id: str, caller: Caller) -> CreditNoteOut:
        """One credit note."""
        return await service.get_credit_note(caller, credit_note_id)

    @get(
        "/{credit_note_id:str}/pdf",
        operation_id="getCreditNotePdf",
        media_type=PDF,
        content_media_type=PDF,
        response_description="The credit note's PDF, as an attachment named after its number",
        opt={**requires(Role.VIEWER, scope="invoices"), **raises(EInvoiceInvalid, *RENDERING)},
    )
    async def get_pdf(
        self, credit_note_id: str, caller: Caller, request: Request[Any, Any, Any]
    ) -> Response[FileBytes]:
        """The stored PDF (PDF/A-3 with the Factur-X XML, type 381, when the business e-invoices),
        byte-identical on every download (`ETag` = its SHA-256)."""
        note, stored = await rendering.pdf(caller, credit_note_id)
        etag = f'"{stored.sha256}"'
        if etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=304, headers={"ETag": etag})
        headers = {
            "Content-Disposition": f'attachment; filename="{rendering.filename(note)}"',
            "ETag": etag,
        }
        return Response(stored.pdf, media_type=PDF, headers=headers)
