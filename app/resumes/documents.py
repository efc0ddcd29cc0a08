from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

from app.core.documents import OwnedDocument


class Resume(OwnedDocument):
    title: str
    content: str = ""
    source: str = "manual"
    model: str | None = None

    class Settings:
        name = "resumes"
        indexes = [IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)])]
