"""`python -m app migrate`: reconcile the declared indexes with the server's, report, exit.

Compose runs it once before the API. It needs the database: one attempt bounded by MONGODB_TIMEOUT_MS, so
that a one-shot service fails visibly (exit 1, one line) rather than waiting forever."""

from __future__ import annotations

import logging

from beanie import Document, init_beanie

from app.config import Settings
from app.db import client as db
from app.db import indexes

log = logging.getLogger("orbix.migrate")


async def run(
    settings: Settings, models: list[type[Document]], client_factory: db.ClientFactory = db.build_client
) -> int:
    client, _ = client_factory(settings)
    try:
        database = client[settings.mongodb_db]
        try:
            await database.command("ping")
        except Exception as exc:  # the driver's message may name hosts; its type is enough here
            log.critical("migrate: the database is unreachable (%s)", type(exc).__name__)
            return 1
        await init_beanie(database=database, document_models=models, skip_indexes=True)
        result = await indexes.migrate(database, models)
    finally:
        client.close()
    for name in result.created:
        log.info("index created: %s", name, extra={"index": name, "action": "created"})
    for name in result.replaced:
        log.info("index replaced: %s", name, extra={"index": name, "action": "replaced"})
    for name in result.unknown:
        log.warning("index not declared, left in place: %s", name, extra={"index": name, "action": "unknown"})
    log.info(
        "migrate: %d created, %d replaced, %d unknown",
        len(result.created),
        len(result.replaced),
        len(result.unknown),
    )
    return 0
