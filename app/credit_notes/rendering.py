"""The stored document of a credit note, as downloads and e-mails carry it."""

from __future__ import annotations

from app.credit_notes import service
from app.credit_notes.models import CreditNote
from app.documents import service as documents
from app.documents.models import StoredDocument
from app.organizations.models import Books


def filename(note: CreditNote) -> str:
    """CN-0001.pdf; `/` and `#` (allowed in prefixes) become `-`."""
    assert note.number is not None
    return note.number.replace("/", "-").replace("#", "-") + ".pdf"


async def stored_document(owner: Books, note: CreditNote) -> StoredDocument:
    """The numbered note's stored document; if its issue was cut short before it was kept, the very
    document the issue would have stored, rendered and kept now."""
    stored = await documents.stored(owner.id, note.id)
    if stored is None:
        stored = await service.store_final(owner, note)
    return stored


async def pdf(owner: Books, note_id: str) -> tuple[CreditNote, StoredDocument]:
    note = await service.get_note(owner, note_id)
    return note, await stored_document(owner, note)
