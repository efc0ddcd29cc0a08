"""Whether every declared uniqueness is in force on the server, as this process last saw it.

A declared unique index that no server index enforces (absent, or only a version with other keys or options:
`python -m app migrate` has not run, or could not build it) would let writes store what the code counts on
never being stored: two accounts with one e-mail, two invoices with one number. Until it is in force the
process refuses writes (`/api` answers POST, PUT, PATCH and DELETE with 503 database_unavailable, the worker
claims no job) and `/ready` answers 503 with the reason. It checks again every RECHECK_SECONDS until they
are all in force, then no more: a unique index an operator drops by hand later goes unnoticed until the next
start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from beanie import Document

from app.db import indexes

log = logging.getLogger("orbix.indexes")

RECHECK_SECONDS = 10.0


class UniqueConstraints:
    def __init__(self, models: list[type[Document]]) -> None:
        self.models = models
        self.missing: list[str] | None = None  # None: not checked yet
        self._reported: list[str] = []
        self._in_force = asyncio.Event()

    @property
    def in_force(self) -> bool:
        return self.missing == []

    def reason(self) -> str:
        if self.missing is None:
            return "The database's unique indexes have not been checked yet"
        names = ", ".join(self.missing)
        return f"The database lacks the unique index {names}: writes are refused until it is in place"

    async def check(self, database: Any, *, report: bool = True) -> bool:
        """Check, and log a change unless `report` is off (before a start has built the missing ones)."""
        missing = await indexes.missing_constraints(database, self.models)
        if report and missing and missing != self._reported:
            self._reported = missing
            log.error(
                "unique indexes missing: %s; writes are refused until `python -m app migrate` builds them",
                ", ".join(missing),
                extra={"missing_unique_indexes": missing},
            )
        elif report and not missing and self._reported:
            self._reported = []
            log.info("the unique indexes are in place: writes are served")
        self.missing = missing
        if not missing:
            self._in_force.set()
        return not missing

    async def until_in_force(self) -> None:
        await self._in_force.wait()

    async def watch(self, database: Any) -> None:
        """Check again every RECHECK_SECONDS until every declared uniqueness is in force."""
        while not self.in_force:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                await self.check(database)
            except Exception as exc:  # the database may be away for a while: the next round tries again
                log.warning("unique index check failed (%s)", type(exc).__name__)
