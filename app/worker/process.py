"""`python -m app worker`: the job loop as its own process, with its own /metrics on WORKER_METRICS_PORT.

SIGTERM (or Ctrl-C) stops claiming; the jobs in hand get up to 25 s to finish, the rest are released for
another worker, and the process exits within 30 s (compose's stop_grace_period is 35 s).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from beanie import Document
from prometheus_client import CollectorRegistry, start_http_server

from app.config import Settings
from app.db import client as db
from app.http.observability import configure_logging
from app.worker.loop import Worker
from app.worker.metrics import JobMetrics

log = logging.getLogger("orbix.worker")

WORKER_CONCURRENCY = 16


class MetricsPortInUse(RuntimeError):
    pass


async def serve_worker(
    settings: Settings, models: list[type[Document]], register_jobs: Callable[[Settings], None]
) -> None:
    configure_logging(settings.log_level, settings.log_format)
    registry = CollectorRegistry()
    worker = Worker(JobMetrics(registry), concurrency=WORKER_CONCURRENCY)
    try:
        server, _ = start_http_server(settings.worker_metrics_port, addr=settings.host, registry=registry)
    except OSError as exc:
        raise MetricsPortInUse(
            f"WORKER_METRICS_PORT: cannot listen on {settings.host}:{settings.worker_metrics_port}"
            f" ({exc.strerror})"
        ) from None
    stop_requested = asyncio.Event()

    def stop() -> None:
        stop_requested.set()
        worker.stop()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    database = db.Database(settings, models)
    await database.start()
    register_jobs(settings)
    # The database may answer after the worker starts, or lack a unique index (no job is claimed until it is
    # in place): a SIGTERM during that wait ends it too.
    waiting = asyncio.ensure_future(database.until_writable())
    stopping = asyncio.ensure_future(stop_requested.wait())
    await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (waiting, stopping):
        task.cancel()
    try:
        if database.writable:  # a stop already requested makes run() return at once
            await worker.run()
    finally:
        server.shutdown()
        server.server_close()
        await database.close()
