from __future__ import annotations

from datetime import datetime

from beanie import PydanticObjectId
from pymongo import ASCENDING, IndexModel

from app.db.repository import OwnedDocument


class StoredDocument(OwnedDocument):
    """The PDF rendered once at send (and its Factur-X XML), served byte-identical ever after."""

    invoice_id: PydanticObjectId
    sha256: str
    size: int
    e_invoice: str
    rendered_at: datetime
    pdf: bytes
    xml: bytes | None = None

    class Settings:
        name = "invoice_documents"
        indexes = [
            IndexModel(
                [("owner_id", ASCENDING), ("invoice_id", ASCENDING)],
                unique=True,
                name="owner_invoice_unique",
            )
        ]
