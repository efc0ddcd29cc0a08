"""The one place that builds the MongoDB client: Motor for a real server, mongomock-motor when embedded.

Moving to PyMongo's async client later is a change to `build_client` alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from beanie import Document, init_beanie
from motor.motor_asyncio import AsyncIOMotorClient
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_exponential_jitter

from app.config import Settings
from app.core.errors import DatabaseUnavailable
from app.db import indexes
from app.db.constraints import UniqueConstraints

log = logging.getLogger("orbix.db")


# The document models the composition root (app/main.py) connected with; core knows no area by name.
_models: list[type[Document]] = []


def referencing_models(field: str) -> list[tuple[type[Document], str]]:
    """(model, field) for every connected document type that carries `field`, e.g. "client_id"."""
    return [(model, field) for model in _models if field in model.model_fields]


ClientFactory = Callable[[Settings], tuple[Any, bool]]

# Reconnect backoff: exponential from half a second to 30 s, with jitter (tenacity, as the AI client).
RECONNECT_INITIAL_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
# The methods that never write: served while a declared unique index is missing.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How long a start waits for the first connection before serving without it (/ready and /api answer 503).
STARTUP_WAIT_SECONDS = 2.0


def build_client(settings: Settings) -> tuple[Any, bool]:
    """(client, embedded). A real server gets majority write concern with journaling, retryable writes and
    reads, and MONGODB_TIMEOUT_MS as the bound on every operation and on server selection. Building the
    client does not connect: a server that is down is found by the first ping."""
    if settings.mongodb_url:
        client: Any = AsyncIOMotorClient(
            settings.mongodb_url,
            tz_aware=True,
            appname="orbix",
            w="majority",
            journal=True,
            retryWrites=True,
            retryReads=True,
            readPreference="primary",
            timeoutMS=settings.mongodb_timeout_ms,
            serverSelectionTimeoutMS=settings.mongodb_timeout_ms,
        )
        return client, False
    from app.db import embedded_store

    log.warning(
        "MONGODB_URL is not set: using the embedded in-memory store; nothing persists across restarts"
    )
    return embedded_store.build_client(), True


class Database:
    """The database connection, made in the background: the API serves (and /ready says 503) until the
    first ping answers. Then the stored data is brought in line (`prepare`), the missing indexes are built,
    and writes wait until every declared uniqueness is in force (app/db/constraints.py)."""

    def __init__(
        self,
        settings: Settings,
        models: list[type[Document]],
        client_factory: ClientFactory = build_client,
        prepare: Callable[[], Awaitable[None]] | None = None,
        after_start: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """`prepare` runs once connected, before anything is served; `after_start` runs once connected, in
        the background, for work that must not hold up readiness."""
        self.settings = settings
        self._prepare = prepare
        self._after_start = after_start
        self.models = models
        self.name = settings.mongodb_db
        self.embedded = not settings.mongodb_url
        self.client: Any = None
        self.constraints = UniqueConstraints(models)
        self._factory = client_factory
        self._wait = wait_exponential_jitter(
            initial=RECONNECT_INITIAL_SECONDS, max=RECONNECT_MAX_SECONDS, jitter=RECONNECT_INITIAL_SECONDS
        )
        self._connecting: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[Any]] = []
        self._after_start_task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.client is not None

    @property
    def writable(self) -> bool:
        return self.connected and self.constraints.in_force

    @property
    def handle(self) -> Any:
        if self.client is None:
            raise DatabaseUnavailable("The database is not connected yet")
        return self.client[self.name]

    async def start(self) -> None:
        """Begin connecting; return once connected and the indexes are built or, for a real server, after
        STARTUP_WAIT_SECONDS (the embedded store has nothing to wait for, so a start with it always returns
        connected, its `after_start` done too)."""
        self._connecting = asyncio.create_task(self._connect_with_backoff(), name="orbix-db-connect")
        await asyncio.wait(
            {self._connecting}, timeout=STARTUP_WAIT_SECONDS if self.settings.mongodb_url else None
        )
        if self.embedded and self._after_start_task is not None:
            await asyncio.wait({self._after_start_task}, timeout=None)

    async def until_connected(self) -> None:
        """Return once the database has answered and the missing indexes are built (at once when done)."""
        if self._connecting is None:
            raise RuntimeError("start() first")
        await asyncio.shield(self._connecting)

    async def until_writable(self) -> None:
        """Return once connected with every declared uniqueness in force."""
        await self.until_connected()
        await self.constraints.until_in_force()

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            wait=self._wait,
            retry=retry_if_exception_type(Exception),
            before_sleep=_log_reconnect,
        )

    async def _connect_with_backoff(self) -> None:
        await self._retrying()(self._connect_once)
        await self._retrying()(self._build_missing_indexes)
        if not self.constraints.in_force:
            self._background.append(
                asyncio.create_task(self.constraints.watch(self.handle), name="orbix-unique-indexes")
            )
        if self._after_start is not None:
            self._after_start_task = asyncio.create_task(self._run_after_start(), name="orbix-after-start")
            self._background.append(self._after_start_task)

    async def _connect_once(self) -> None:
        client, self.embedded = self._factory(self.settings)
        try:
            database = client[self.name]
            await database.command("ping")
            await init_beanie(database=database, document_models=self.models, skip_indexes=True)
            _models[:] = self.models
            if self._prepare is not None:
                await self._prepare()
        except BaseException:
            client.close()
            raise
        self.client = client
        log.info("database connected")

    async def _build_missing_indexes(self) -> None:
        """Check the uniqueness first (reads are served meanwhile, writes wait), build what is missing (a long
        build holds up no more than it must), check again."""
        await self.constraints.check(self.handle, report=False)
        await indexes.create_missing(self.handle, self.models)
        await self.constraints.check(self.handle)

    async def _run_after_start(self) -> None:
        assert self._after_start is not None
        try:
            await self._after_start()
        except Exception:
            log.exception("start-up work in the background failed")

    async def ping(self) -> bool:
        if self.client is None:
            return False
        try:
            await self.handle.command("ping")
        except Exception as exc:  # any driver failure means "not ready"
            log.warning("database ping failed: %s", type(exc).__name__)
            return False
        return True

    async def close(self) -> None:
        for task in [self._connecting, *self._background]:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.client is not None:
            self.client.close()


def _log_reconnect(state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome is not None else None
    delay = state.next_action.sleep if state.next_action is not None else 0
    log.warning(
        "database unavailable (%s); attempt %d, next in %.1f s",
        type(failure).__name__,
        state.attempt_number,
        delay,
        extra={"attempt": state.attempt_number, "retry_in_seconds": round(delay, 1)},
    )


class RequireDatabase:
    """ASGI middleware for /api: 503 database_unavailable at once while the database has never answered,
    instead of each request waiting MONGODB_TIMEOUT_MS for a server that is not there; and for a write
    while a declared unique index is not in force (app/db/constraints.py)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        database = scope["app"].state.db
        if not database.connected:
            raise DatabaseUnavailable("The database is not reachable yet; try again shortly")
        if scope["method"] not in READ_METHODS and not database.constraints.in_force:
            raise DatabaseUnavailable(database.constraints.reason())
        await self.app(scope, receive, send)
