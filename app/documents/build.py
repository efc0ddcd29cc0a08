"""What the rendering processes run (pool.py): plain functions of encoded data, so they cross the process
boundary cheaply and never touch the database or the event loop."""

from __future__ import annotations

from datetime import datetime

import msgspec

from app.documents.cii import build_cii
from app.documents.facturx_pdf import embed
from app.documents.fonts import coverage, typst_fonts
from app.documents.model import Built, DocumentData, Report
from app.documents.pdf import page_count, render_pdf
from app.documents.validation import validate

_decoder = msgspec.json.Decoder(DocumentData)


def check(payload: bytes) -> bytes:
    """The EN 16931 report of the invoice's Factur-X XML."""
    return msgspec.json.encode(validate(build_cii(_decoder.decode(payload))))


def xml(payload: bytes) -> bytes:
    return build_cii(_decoder.decode(payload))


def warm() -> None:
    """Load the fonts once, as a process starts, so that its first render does not pay for it."""
    typst_fonts()
    coverage()


def document(payload: bytes, rendered_at: datetime, max_pages: int | None = None) -> bytes:
    """The PDF; for a Factur-X final document, the XML checked first and embedded (no PDF if it fails).
    No PDF either when it has more than `max_pages` pages (only their number comes back)."""
    data = _decoder.decode(payload)
    cii: bytes | None = None
    report: Report | None = None
    if data.e_invoice == "factur-x" and not data.draft:
        cii = build_cii(data)
        report = validate(cii)
        if not report.valid:
            return msgspec.json.encode(Built(pdf=None, xml=cii, report=report))
    pdf = render_pdf(data, rendered_at=rendered_at)
    pages = page_count(pdf)
    if max_pages is not None and pages > max_pages:
        return msgspec.json.encode(Built(pdf=None, xml=None, report=None, pages=pages))
    if cii is not None:
        pdf = embed(pdf, cii, data, rendered_at)
    return msgspec.json.encode(Built(pdf=pdf, xml=cii, report=report, pages=pages))
