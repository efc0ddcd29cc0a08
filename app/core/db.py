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


# The document models the composition root (app/main.py) connected with; core knows no area by name.
_models: list[type[Document]] = []


def referencing_models(field: str) -> list[tuple[type[Document], str]]:
    """(model, field) for every connected document type that carries `field`, e.g. "client_id"."""
    return [(model, field) for model in _models if field in model.model_fields]


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


async def connect(settings: Settings, models: list[type[Document]]) -> Database:
    """Connect and initialise Beanie with `models` (one explicit list; init_beanie creates their indexes)."""
    client, embedded = build_client(settings)
    database = Database(client=client, name=settings.mongodb_db, embedded=embedded)
    await init_beanie(database=database.handle, document_models=models)
    _models[:] = models
    return database
