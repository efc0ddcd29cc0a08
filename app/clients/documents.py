from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.documents import DELETING_INDEX, ReferencedDocument, StoredAddress
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
            IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("owner_id", ASCENDING), ("name", ASCENDING)]),
            DELETING_INDEX,
            OUTBOX_INDEX,
        ]
