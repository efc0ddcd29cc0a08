"""Credit note numbers: their own gap-free sequence per organisation, `{credit_note_prefix}{n:04d}`, through
the same counter-and-holder mechanism as invoice numbers (db/sequences.py) on a counter collection of their
own (credit_note_counters)."""

from __future__ import annotations

from app.credit_notes.models import CreditNoteCounter
from app.db.sequences import Sequence

SEQUENCE = Sequence(CreditNoteCounter, "credit note")
