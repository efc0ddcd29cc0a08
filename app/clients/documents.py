from __future__ import annotations

from app.core.documents import DELETING_INDEX, ReferencedDocument, StoredAddress
from app.core.indexes import sort_indexes
from app.core.outbox import OUTBOX_INDEX


class Client(ReferencedDocument):
    name: str
    email: str | None = None
    company: str | None = None
    phone: str | None = None
    address: StoredAddress | None = None
    tax_id: str | None = None
    currency: str
    payment_terms_days: int
    notes: str = ""

    class Settings:
        name = "clients"
        indexes = [
            *sort_indexes("name", "created_at"),
            DELETING_INDEX,
            OUTBOX_INDEX,
        ]
