from __future__ import annotations

from beanie import PydanticObjectId
from litestar import Controller, Request, get, post

from app.auth.models import Caller
from app.core.errors import InvalidState, QuotaExceeded, raises
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.tenancy import requires
from app.mail import service
from app.mail.errors import EmailUnavailable
from app.mail.schemas import EmailCreate, EmailOut, EmailPage, EmailQueued


class InvoiceEmailController(Controller):
    path = "/invoices"
    tags = ["invoices"]

    @post(
        "/{invoice_id:str}/email",
        operation_id="emailInvoice",
        status_code=202,
        opt={
            **requires(Role.BILLING, scope="invoices"),
            **raises(InvalidState, EmailUnavailable, QuotaExceeded),
        },
    )
    async def email_invoice(
        self,
        invoice_id: str,
        data: EmailCreate,
        caller: Caller,
        request: Request,
        expected: Expected,
        new_id: PydanticObjectId | None,
    ) -> EmailQueued:
        """Queue the invoice's stored PDF for e-mail (sent or paid invoices); the worker delivers it.
        `to` defaults to the client's e-mail; at most 10 recipients in `to` and `cc` together. Each e-mail
        counts once toward EMAIL_DAILY_LIMIT (200 in any 24 hours by default): beyond, 429
        `quota_exceeded`."""
        settings = request.app.state.settings
        record = await service.queue_email(settings, caller, invoice_id, data, expected, new_id)
        return EmailQueued.from_document(record)

    @get(
        "/{invoice_id:str}/emails",
        operation_id="listInvoiceEmails",
        opt={**requires(Role.VIEWER, scope="invoices"), **sorted_by(service.SORTS)},
    )
    async def list_emails(self, invoice_id: str, owner: Caller, page: PageParams) -> EmailPage:
        """The invoice's e-mails and how their delivery went. Sort: `created_at` (default newest first)."""
        return (await service.list_emails(owner, invoice_id, page)).map(EmailOut.from_document)


class CreditNoteEmailController(Controller):
    path = "/credit-notes"
    tags = ["credit notes"]

    @post(
        "/{credit_note_id:str}/email",
        operation_id="emailCreditNote",
        status_code=202,
        opt={**requires(Role.BILLING, scope="invoices"), **raises(EmailUnavailable, QuotaExceeded)},
    )
    async def email_credit_note(
        self,
        credit_note_id: str,
        data: EmailCreate,
        caller: Caller,
        request: Request,
        expected: Expected,
        new_id: PydanticObjectId | None,
    ) -> EmailQueued:
        """Queue the credit note's stored PDF (with its Factur-X XML when enabled) for e-mail, as for
        invoices: `to` defaults to the client's e-mail, at most 10 recipients in `to` and `cc` together, and
        each e-mail counts once toward EMAIL_DAILY_LIMIT (beyond, 429 `quota_exceeded`)."""
        settings = request.app.state.settings
        record = await service.queue_credit_note_email(
            settings, caller, credit_note_id, data, expected, new_id
        )
        return EmailQueued.from_document(record)

    @get(
        "/{credit_note_id:str}/emails",
        operation_id="listCreditNoteEmails",
        opt={**requires(Role.VIEWER, scope="invoices"), **sorted_by(service.CREDIT_NOTE_SORTS)},
    )
    async def list_emails(self, credit_note_id: str, owner: Caller, page: PageParams) -> EmailPage:
        """The credit note's e-mails and how their delivery went (they show in its invoice's list too). Sort:
        `created_at` (default newest first)."""
        return (await service.list_credit_note_emails(owner, credit_note_id, page)).map(
            EmailOut.from_document
        )
