"""Application factory: `create_app(settings)` builds the app; `app` is built from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property
from typing import Any

from beanie import Document
from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.routes import HTTPRoute

from app.ai.client import AIClient
from app.api_keys.controller import ApiKeyController
from app.api_keys.models import ApiKey
from app.api_keys.usage import Usage
from app.auth.controller import AuthController
from app.auth.middleware import auth_middleware, provide_caller, provide_current_user, provide_owner
from app.auth.models import User
from app.auth.passwords import PasswordHasher
from app.auth.sessions import Session
from app.auth.tokens import TokenService
from app.background import register_jobs
from app.clients.controller import ClientController
from app.clients.models import Client
from app.config import MAX_BODY_BYTES, ConfigError, Settings
from app.contracts.controller import ContractController
from app.contracts.models import Contract
from app.credit_notes.controller import CreditNoteController, InvoiceCreditNoteController
from app.credit_notes.models import CreditNote, CreditNoteCounter
from app.db import client as db
from app.db import data_migrations
from app.db.quota import QuotaWindow
from app.documents.models import StoredDocument
from app.events.controller import EventController
from app.events.live import Live
from app.events.models import Event, EventSequence
from app.http.after_answer import RelayAfterAnswer
from app.http.docs_ui import OfflineRedocPlugin, docs_router
from app.http.edge import guarded
from app.http.idempotency import IdempotencyMiddleware, IdempotencyRecord, IdempotencyStore, provide_new_id
from app.http.litestar_private import ProblemCORSMiddleware, wrap_in_exception_handler
from app.http.observability import Metrics, answer_health, configure_logging, run_with_edge
from app.http.openapi import (
    DecimalInputSchemaPlugin,
    RequestStructSchemaPlugin,
    components,
    document_operations,
)
from app.http.pagination import provide_page_params
from app.http.problems import EXCEPTION_HANDLERS
from app.http.rate_limit import auth_rate_limit
from app.http.strict_body import validate_request
from app.http.tenancy import NameTheOrganization, check_declared, role_guard
from app.http.termination import on_termination
from app.http.versioning import EXPECTED, VersioningMiddleware, provide_expected
from app.invoices import numbering
from app.invoices.controller import InvoiceController
from app.invoices.models import Invoice, InvoiceCounter
from app.mail.controller import CreditNoteEmailController, InvoiceEmailController
from app.mail.models import EmailRecord
from app.organizations import service as organizations
from app.organizations.controller import InvitationController, OrganizationController, OrganizationsController
from app.organizations.models import Invitation, Organization
from app.projects.controller import ProjectController
from app.projects.models import Project
from app.recurring.controller import RecurringInvoiceController
from app.recurring.models import RecurringInvoice
from app.reports.controller import ReportController
from app.resumes.controller import ResumeController
from app.resumes.models import Resume
from app.startup import EXIT_CONFIG, ensure_jobs_run, fail
from app.system.controller import SystemController
from app.time_entries import service as time_entries
from app.time_entries.controller import TimeEntryController
from app.time_entries.models import TimeEntry
from app.webhooks.controller import WebhookEndpointController
from app.webhooks.models import FanoutCursor, WebhookDelivery, WebhookEndpoint
from app.worker.loop import Worker
from app.worker.metrics import JobMetrics
from app.worker.models import Job, PeriodicLease

# Every Beanie document, one explicit list, handed to db/client at start-up.
DOCUMENT_MODELS: list[type[Document]] = [
    User,
    Organization,
    Session,
    Client,
    Project,
    TimeEntry,
    Invoice,
    InvoiceCounter,
    CreditNote,
    CreditNoteCounter,
    StoredDocument,
    EmailRecord,
    Contract,
    Resume,
    Job,
    PeriodicLease,
    IdempotencyRecord,
    Event,
    EventSequence,
    WebhookEndpoint,
    WebhookDelivery,
    FanoutCursor,
    QuotaWindow,
    Invitation,
    ApiKey,
    RecurringInvoice,
]

API_CONTROLLERS: list[Any] = [
    AuthController,
    ClientController,
    ProjectController,
    TimeEntryController,
    InvoiceController,
    InvoiceEmailController,
    InvoiceCreditNoteController,
    CreditNoteController,
    CreditNoteEmailController,
    ContractController,
    ReportController,
    ResumeController,
    EventController,
    WebhookEndpointController,
    OrganizationsController,
    OrganizationController,
    InvitationController,
    ApiKeyController,
    RecurringInvoiceController,
]


# What a page may read from a response: the request id to quote, the version to send back in If-Match,
# where a created resource lives, and how long to wait after a 429 or 503.
EXPOSED_HEADERS = ("X-Request-ID", "ETag", "Location", "Retry-After", "Orbix-Organization")

# The inline worker (the trial mode's: one command serves everything) shares the API's event loop, so it runs
# one job at a time; every store call and send yields to the requests. Production runs `python -m app worker`.
INLINE_WORKER_CONCURRENCY = 1


class Orbix(Litestar):
    """Litestar with a raw-ASGI edge: request ids, headers, logs and metrics for every HTTP request,
    and `/health` answered before routing (it is the route load testers hammer)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if scope["path"] == "/health" and scope["method"] == "GET":
            await answer_health(scope, self._with_cors(scope, send))
        else:
            await run_with_edge(scope, receive, send, self._guarded, self.state.metrics)

    @cached_property
    def _guarded(self) -> Any:
        return guarded(super().__call__, self.state.settings.request_body_timeout_seconds)  # type: ignore[arg-type]

    _cors: ProblemCORSMiddleware | None = None

    def _create_asgi_handler(self) -> Any:
        """Litestar's own wrapping (exception handling, then CORS), with CORS refusals as problem+json."""
        handler = wrap_in_exception_handler(app=self.asgi_router)
        if self.cors_config:
            handler = self._cors = ProblemCORSMiddleware(app=handler, config=self.cors_config)
        return handler

    def _with_cors(self, scope: Any, send: Any) -> Any:
        """/health is answered before routing, so before the CORS middleware: the same headers, added here."""
        if self._cors is None:
            return send
        origin = next((value for name, value in scope["headers"] if name == b"origin"), None)
        if origin is None:
            return send
        has_cookie = any(name == b"cookie" for name, _ in scope["headers"])
        return self._cors.send_wrapper(send, origin.decode("latin-1"), has_cookie)


async def prepare_stored_data() -> None:
    """Bring data stored under older rules in line before serving: idempotent, run at every connect (and by
    `python -m app migrate`)."""
    await organizations.migrate_personal_organizations()
    await organizations.migrate_invoice_prefixes()
    database = User.get_motor_collection().database
    await data_migrations.once(database, "time_entry_user_ids", time_entries.migrate_user_ids)


async def _run_inline_worker(database: db.Database, worker: Worker) -> None:
    await database.until_writable()
    await worker.run()


async def _run_live_tail(database: db.Database, live: Live) -> None:
    await database.until_connected()
    await live.run()


# How long shutdown waits for the open event streams to send their final comment and end.
STREAMS_GRACE_SECONDS = 5.0


async def _end_streams(live: Live, tail: asyncio.Task[None]) -> None:
    """Every open stream ends with a comment telling its client to reconnect with Last-Event-ID."""
    live.stop()
    await live.drained(STREAMS_GRACE_SECONDS)
    tail.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await tail


def _lifespan(settings: Settings, client_factory: db.ClientFactory) -> Any:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.db = db.Database(
            settings,
            DOCUMENT_MODELS,
            client_factory,
            prepare=prepare_stored_data,
            # A build over every stored invoice: it must not hold up readiness (its absence is logged only).
            after_start=numbering.ensure_unique_numbers,
        )
        await app.state.db.start()
        app.state.ai = AIClient(settings)
        register_jobs(settings)
        worker = Worker(
            app.state.job_metrics,
            concurrency=INLINE_WORKER_CONCURRENCY,
        )
        # API keys' usage, counted in this process, written about once a minute (api_keys/usage.py).
        usage: Usage = app.state.api_key_usage
        flushing = asyncio.create_task(usage.run(), name="orbix-api-key-usage")
        # One tail of the feed per process, fanned out to this process's event streams (events/live.py).
        live: Live = app.state.live
        tail = asyncio.create_task(_run_live_tail(app.state.db, live), name="orbix-live-tail")
        # The server's SIGTERM ends the streams at once (its lifespan shutdown comes only after they closed).
        forget_termination = on_termination(live.stop)
        inline = None
        if settings.worker == "inline":
            inline = asyncio.create_task(_run_inline_worker(app.state.db, worker), name="orbix-inline-worker")
        try:
            yield
        finally:
            forget_termination()
            await _end_streams(live, tail)
            if inline is not None:
                worker.stop()
                if not app.state.db.writable:  # still waiting for the database: nothing in hand
                    inline.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await inline
            flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flushing
            with contextlib.suppress(Exception):  # the database may be gone: those counts are lost
                await usage.flush()
            await app.state.ai.aclose()
            await app.state.db.close()

    return lifespan


def _cors(settings: Settings) -> CORSConfig | None:
    """Only the configured origins; the SPA may read X-Request-ID (to quote it in a bug report)."""
    if not settings.cors_origins:
        return None
    # Credentials (the session cookie) for the listed origins only; `*` is refused at start-up (config.py).
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_credentials=True,
        expose_headers=list(EXPOSED_HEADERS),
    )


def create_app(settings: Settings | None = None, client_factory: db.ClientFactory = db.build_client) -> Orbix:
    """`client_factory` builds the MongoDB client (the seam the start-up-without-a-database tests use)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    if settings.jwt_secret_generated:
        logging.getLogger("orbix.config").warning(
            "JWT_SECRET is not set: using a random per-process secret; tokens die with the process"
        )
    rate_limit = auth_rate_limit(settings)
    metrics = Metrics()
    api = Router(
        path="/api",
        route_handlers=API_CONTROLLERS,
        guards=[role_guard],  # the least role each route declares (http/tenancy.py)
        # Outermost first: events are relayed once the answer is out; no database, no work (503 at once); the
        # user is known before an Idempotency-Key is looked up (keys are per user); the ETag is set inside,
        # so a kept answer carries it.
        middleware=[
            RelayAfterAnswer,
            db.RequireDatabase,
            NameTheOrganization,
            auth_middleware(),
            rate_limit.middleware,
            IdempotencyMiddleware,
            VersioningMiddleware,
        ],
        dependencies={
            "current_user": Provide(provide_current_user, sync_to_thread=False),  # the caller's user document
            "caller": Provide(provide_caller, sync_to_thread=False),  # with the organisation's profile
            "owner": Provide(provide_owner, sync_to_thread=False),  # who and where only: a lighter lookup
            "page": Provide(provide_page_params, sync_to_thread=False),  # limit/offset/sort of every list
            EXPECTED: Provide(provide_expected, sync_to_thread=False),  # If-Match of a write
            "new_id": Provide(provide_new_id, sync_to_thread=False),  # what a create makes: once per key
        },
    )
    app = Orbix(
        route_handlers=[SystemController, api],
        lifespan=[_lifespan(settings, client_factory)],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=MAX_BODY_BYTES,
        before_request=validate_request,
        cors_config=_cors(settings),
        openapi_config=OpenAPIConfig(
            title="Orbix API",
            version="0.1.0",
            description="The back office of a freelancer or a small agency: one JSON API.",
            path="/schema",
            openapi_router=docs_router("/schema"),
            components=components(),
            use_handler_docstrings=True,
            render_plugins=[OfflineRedocPlugin()],
        ),
        logging_config=None,
        plugins=[RequestStructSchemaPlugin(), DecimalInputSchemaPlugin()],
        state=State(
            {
                "settings": settings,
                "metrics": metrics,
                "job_metrics": JobMetrics(metrics.registry, metrics.quota_exceeded),
                "hasher": PasswordHasher(settings.bcrypt_rounds),
                "tokens": TokenService(settings),
                "idempotency": IdempotencyStore(),
                "api_key_usage": Usage(),
                "live": Live(max_age=settings.event_stream_max_seconds),
            }
        ),
        debug=False,
    )
    check_declared(
        handler for route in app.routes if isinstance(route, HTTPRoute) for handler in route.route_handlers
    )
    document_operations(app)
    return app


def _app_from_environment() -> Orbix:
    """The app any ASGI server loads (`app.main:app`): a configuration error, or a set-up in which no job
    would ever run (WORKER=off on the embedded store), stops the process with one line and exit code 2."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EXIT_CONFIG)
    ensure_jobs_run(settings, worker_process=False)
    return create_app(settings)


app = _app_from_environment()
