"""The one place that builds the MongoDB client: Motor for a real server, mongomock-motor when embedded.

Moving to PyMongo's async client later is a change to `build_client` alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from beanie import Document, init_beanie
from motor.motor_asyncio import AsyncIOMotorClient

from app.core.config import Settings

log = logging.getLogger("orbix.db")


def document_models() -> list[type[Document]]:
    """Every Beanie document, one explicit list; init_beanie creates their declared indexes."""
    from app.auth.documents import User
    from app.clients.documents import Client
    from app.contracts.documents import Contract
    from app.invoices.documents import Invoice, InvoiceCounter
    from app.projects.documents import Project
    from app.resumes.documents import Resume
    from app.time_entries.documents import TimeEntry

    return [User, Client, Project, TimeEntry, Invoice, InvoiceCounter, Contract, Resume]


def referencing_models(field: str) -> list[tuple[type[Document], str]]:
    """(model, field) for every document type that carries `field`, e.g. "client_id"."""
    return [(model, field) for model in document_models() if field in model.model_fields]


@dataclass
class Database:
    client: Any
    name: str
    embedded: bool

    @property
    def handle(self) -> Any:
        return self.client[self.name]

    async def ping(self) -> bool:
        try:
            await self.handle.command("ping")
        except Exception as exc:  # any driver failure means "not ready"
            log.warning("database ping failed: %s", type(exc).__name__)
            return False
        return True

    def close(self) -> None:
        self.client.close()


def build_client(settings: Settings) -> tuple[Any, bool]:
    if settings.mongodb_url:
        client: Any = AsyncIOMotorClient(
            settings.mongodb_url,
            tz_aware=True,
            serverSelectionTimeoutMS=5000,
            appname="orbix",
        )
        return client, False
    from mongomock_motor import AsyncMongoMockClient

    log.warning(
        "MONGODB_URL is not set: using the embedded in-memory store; nothing persists across restarts"
    )
    return AsyncMongoMockClient(tz_aware=True), True


async def connect(settings: Settings) -> Database:
    client, embedded = build_client(settings)
    database = Database(client=client, name=settings.mongodb_db, embedded=embedded)
    await init_beanie(database=database.handle, document_models=document_models())
    return database
