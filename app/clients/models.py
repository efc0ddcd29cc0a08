from __future__ import annotations

from app.db.indexes import owner_index, sort_indexes
from app.db.outbox import OUTBOX_INDEX
from app.db.repository import DELETING_INDEX, ReferencedDocument, StoredAddress


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
            owner_index("owner_currency", "currency"),  # the report's clients of one currency
            DELETING_INDEX,
            OUTBOX_INDEX,
        ]
