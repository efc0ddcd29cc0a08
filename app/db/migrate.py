"""`python -m app migrate`: reconcile the declared indexes with the server's (app/db/index_migration.py),
report, exit.

Compose runs it once before the API and the worker. The database must answer its first ping within
MONGODB_TIMEOUT_MS, so that a one-shot service fails visibly (exit 1, one line) rather than waiting forever;
index builds then take as long as they take. Exit 1 too when a declared index could not be reached (each
reported on one line, its old version kept) or the database stopped answering midway: a rerun resumes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from beanie import Document, init_beanie
from pymongo.errors import PyMongoError

from app.config import Settings
from app.db import client as db
from app.db import index_migration

log = logging.getLogger("orbix.migrate")


async def run(
    settings: Settings,
    models: list[type[Document]],
    client_factory: db.ClientFactory = db.build_client,
    prepare: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """`prepare`: what brings stored data in line (app.main.prepare_stored_data), run once the indexes are."""
    client, _ = client_factory(settings)
    try:
        database = client[settings.mongodb_db]
        try:
            await database.command("ping")
        except Exception as exc:  # the driver's message may name hosts; its type is enough here
            log.critical("migrate: the database is unreachable (%s)", type(exc).__name__)
            return 1
        await init_beanie(database=database, document_models=models, skip_indexes=True)
        try:
            result = await index_migration.migrate(database, models)
            if prepare is not None:
                await prepare()
        except PyMongoError as exc:
            log.critical(
                "migrate: the database stopped answering (%s); run it again to resume", type(exc).__name__
            )
            return 1
    finally:
        client.close()
    for action, names in (
        ("created", result.created),
        ("replaced", result.replaced),
        ("modified", result.modified),
    ):
        for name in names:
            log.info("index %s: %s", action, name, extra={"index": name, "action": action})
    for name in result.unknown:
        log.warning("index not declared, left in place: %s", name, extra={"index": name, "action": "unknown"})
    for failure in result.failed:
        name = failure.split(":", 1)[0]
        log.error("index not migrated: %s", failure, extra={"index": name, "action": "failed"})
    log.info(
        "migrate: %d created, %d replaced, %d modified, %d unknown, %d failed",
        len(result.created),
        len(result.replaced),
        len(result.modified),
        len(result.unknown),
        len(result.failed),
    )
    return 1 if result.failed else 0
