"""The invoice problems."""

from __future__ import annotations

from app.core.errors import Conflict


class TooManyPayments(Conflict):
    """An invoice keeps at most MAX_PAYMENTS payments (so that no document nears MongoDB's 16 MiB)."""

    code = "too_many_payments"


class CreditNoteRequired(Conflict):
    """A sent e-invoice is corrected by a credit note, never voided (API.md section 22)."""

    code = "credit_note_required"


class TooManyCreditNotes(Conflict):
    """An invoice keeps at most MAX_CREDIT_NOTES credit notes (their ids live on the invoice)."""

    code = "too_many_credit_notes"
