"""Operational endpoints: liveness, readiness, metrics. No auth, outside /api."""

from __future__ import annotations

from litestar import Controller, MediaType, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.core.errors import DatabaseUnavailable, raises
from app.http.schemas import ResponseStruct

# Litestar appends "; charset=utf-8" to every text/* media type: the client library's own must not say it too.
METRICS_MEDIA_TYPE = "; ".join(p for p in CONTENT_TYPE_LATEST.split("; ") if not p.startswith("charset="))


class Health(ResponseStruct):
    status: str


class Readiness(ResponseStruct):
    status: str
    database: str


class SystemController(Controller):
    path = "/"
    tags = ["system"]
    include_in_schema = True

    @get("/health", operation_id="health")
    async def health(self) -> Health:
        """Liveness only. The edge answers this before the framework (see http/observability.py);
        this handler documents it and serves it if the edge is bypassed."""
        return Health(status="ok")

    @get("/ready", operation_id="ready", opt=raises(DatabaseUnavailable))
    async def ready(self, state: State) -> Readiness:
        """Ready when the database answers a ping and every declared unique index is in force (else writes
        are refused: app/db/constraints.py)."""
        if not await state.db.ping():
            raise DatabaseUnavailable("The database did not answer a ping")
        if not state.db.constraints.in_force:
            raise DatabaseUnavailable(state.db.constraints.reason())
        return Readiness(status="ok", database="ok")

    @get("/metrics", operation_id="metrics", media_type=MediaType.TEXT)
    async def metrics(self, state: State) -> Response[bytes]:
        """Prometheus text format: request counts and latency per route template and status."""
        return Response(generate_latest(state.metrics.registry), media_type=METRICS_MEDIA_TYPE)
