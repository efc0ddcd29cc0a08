"""The documents of an invoice as the API serves them: the PDF (a draft's rendered on demand, a sent
one's as stored), the Factur-X XML, and the EN 16931 check of a draft."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import InvalidState, NotFound
from app.db.repository import get_owned
from app.db.versions import ANY, Expected
from app.documents import service as documents
from app.documents.model import Report
from app.documents.models import StoredDocument
from app.invoices import document_data, lifecycle, numbering
from app.invoices.models import Invoice
from app.organizations.models import Books


@dataclass(frozen=True)
class File:
    content: bytes
    filename: str
    etag: str | None


def filename(invoice: Invoice) -> str:
    """INV-0001.pdf; `/` and `#` (allowed in prefixes) become `-`; a draft is draft-{id}.pdf."""
    if invoice.number is None:
        return f"draft-{invoice.id}.pdf"
    return invoice.number.replace("/", "-").replace("#", "-") + ".pdf"


async def _upcoming(owner: Books) -> str:
    return numbering.format_number(owner.business.invoice_prefix, await numbering.peek_seq(owner.id))


async def pdf(owner: Books, invoice_id: str) -> File:
    invoice = await get_owned(Invoice, invoice_id, owner.id)
    if invoice.status == "draft" or invoice.number is None:
        if invoice.status != "draft":  # sent, but the number step was cut short: recovery finishes it
            raise InvalidState(f"Invoice {invoice.id} is being sent; try again shortly")
        data = await document_data.load(owner, invoice, number=None)
        return File(await documents.preview(owner.id, data), filename(invoice), None)
    stored = await stored_document(owner, invoice)
    return File(stored.pdf, filename(invoice), stored.sha256)


async def stored_document(owner: Books, invoice: Invoice) -> StoredDocument:
    """A numbered invoice's stored document (what downloads and e-mails carry), rendered and kept now if its
    send was interrupted after the number and before the document: the very document the send would have
    stored (lifecycle.store_final: as the invoice was sent, so no payment made since is on it)."""
    assert invoice.number is not None
    stored = await documents.stored(owner.id, invoice.id)
    if stored is None:
        stored = await lifecycle.store_final(owner, invoice)
        await lifecycle.attach_document(owner, invoice, stored)
    return stored


async def validate(owner: Books, invoice_id: str, expected: Expected = ANY) -> Report:
    """The same check send runs, on a draft, with the number it would receive."""
    invoice = await get_owned(Invoice, invoice_id, owner.id, expected)
    lifecycle.require(invoice, "send")
    data = await document_data.load(owner, invoice, number=await _upcoming(owner))
    return await documents.check(owner.id, data)


async def e_invoice(owner: Books, invoice_id: str) -> bytes:
    """A sent invoice's stored XML; a draft's built now with the number it would receive."""
    invoice = await get_owned(Invoice, invoice_id, owner.id)
    if invoice.status == "draft":
        data = await document_data.load(owner, invoice, number=await _upcoming(owner))
        return await documents.e_invoice_xml(owner.id, data)
    stored = await documents.stored(owner.id, invoice.id)
    if stored is None or stored.xml is None:
        raise NotFound(f"Invoice {invoice.number or invoice.id} has no e-invoice (sent without Factur-X)")
    return stored.xml
