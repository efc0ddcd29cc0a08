"""What other areas call: preview a draft, check an e-invoice, render and store a final document once,
read it back. Rendering and validation run in the rendering processes, never on the event loop, each as one
of an organisation's renders (`org_id`: today the invoice's owner), within its fair share (pool.py)."""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec
from pymongo.errors import DuplicateKeyError

from app.core.clock import as_utc, to_utc_ms, utc_now
from app.core.errors import RuleError
from app.db.repository import OwnerId, owned_filter
from app.documents import pool
from app.documents.errors import DocumentTooLarge, EInvoiceInvalid
from app.documents.model import Built, DocumentData, Report
from app.documents.models import StoredDocument

_built = msgspec.json.Decoder(Built)
_report = msgspec.json.Decoder(Report)


def _invalid(report: Report, data: DocumentData) -> EInvoiceInvalid:
    return EInvoiceInvalid.rules(
        [RuleError(rule=e.rule, message=e.message, location=e.location) for e in report.errors],
        "no credit note was issued" if data.credit_note else "the invoice stays a draft",
    )


def _encode(data: DocumentData) -> bytes:
    return msgspec.json.encode(data)


async def _document(org_id: OwnerId, data: DocumentData, rendered_at: datetime, *, capped: bool) -> Built:
    """Rendered; 422 document_too_large over DOCUMENT_MAX_PAGES when `capped`."""
    max_pages = pool.renderers.limits.max_pages if capped else None
    built = _built.decode(await pool.run_job(str(org_id), "document", _encode(data), rendered_at, max_pages))
    if max_pages is not None and built.pages > max_pages:
        raise DocumentTooLarge.pages(built.pages, max_pages)
    return built


async def preview(org_id: OwnerId, data: DocumentData) -> bytes:
    """A draft's PDF, rendered on demand and never stored."""
    built = await _document(org_id, data, utc_now(), capped=True)
    assert built.pdf is not None  # drafts embed no XML, so nothing can stop them
    return built.pdf


async def check(org_id: OwnerId, data: DocumentData) -> Report:
    return _report.decode(await pool.run_job(str(org_id), "check", _encode(data)))


async def e_invoice_xml(org_id: OwnerId, data: DocumentData) -> bytes:
    return await pool.run_job(str(org_id), "xml", _encode(data))


class Rendered(msgspec.Struct, frozen=True, kw_only=True):
    """A final document, rendered and checked but not stored yet."""

    pdf: bytes
    xml: bytes | None
    e_invoice: str
    rendered_at: datetime


async def render_final(
    org_id: OwnerId, data: DocumentData, rendered_at: datetime, *, capped: bool = True
) -> Rendered:
    """The final PDF (PDF/A-3 with the checked Factur-X XML when enabled), dated `rendered_at` (every date
    in it is that moment, so the same data and moment give the same bytes); 422 when the XML breaks a
    rule, or (`capped`) when it has more than DOCUMENT_MAX_PAGES pages."""
    rendered_at = _millis(rendered_at)
    built = await _document(org_id, data, rendered_at, capped=capped)
    if built.pdf is None:
        assert built.report is not None
        raise _invalid(built.report, data)
    return Rendered(pdf=built.pdf, xml=built.xml, e_invoice=data.e_invoice, rendered_at=rendered_at)


async def stored(owner_id: OwnerId, invoice_id: OwnerId) -> StoredDocument | None:
    return await StoredDocument.find_one(owned_filter(owner_id, invoice_id=invoice_id))


async def store(owner_id: OwnerId, invoice_id: OwnerId, rendered: Rendered) -> StoredDocument:
    """Kept once per invoice: when one is stored already (a retry, a recovery, a race) that one stays and is
    returned, so an invoice never has two different documents."""
    document = StoredDocument(
        owner_id=owner_id,
        invoice_id=invoice_id,
        sha256=hashlib.sha256(rendered.pdf).hexdigest(),
        size=len(rendered.pdf),
        e_invoice=rendered.e_invoice,
        rendered_at=rendered.rendered_at,
        pdf=rendered.pdf,
        xml=rendered.xml,
    )
    try:
        await document.insert()
    except DuplicateKeyError:
        winner = await stored(owner_id, invoice_id)
        assert winner is not None
        return winner
    return document


async def ensure_stored(
    owner_id: OwnerId, invoice_id: OwnerId, data: DocumentData, rendered_at: datetime
) -> StoredDocument:
    """The stored document, rendered now (dated `rendered_at`) if a send was interrupted before it was
    kept. Without the page cap: the send checked it before the number was taken, and a numbered invoice
    must get its document even if DOCUMENT_MAX_PAGES was lowered since."""
    existing = await stored(owner_id, invoice_id)
    if existing is not None:
        return existing
    return await store(owner_id, invoice_id, await render_final(owner_id, data, rendered_at, capped=False))


def _millis(moment: datetime) -> datetime:
    """What BSON keeps, so the value returned now equals the one read back later."""
    return to_utc_ms(as_utc(moment))
