"""`python -m app`: serve Orbix with the production server, HOST/PORT from the environment.
`python -m app worker`: run the background worker (section 14 of the API contract).

granian, chosen by measurement over uvicorn (docs/benchmarks.md): ~19 % more /health throughput and a
p99 about three times shorter on real routes, one worker per process on these 2-core machines.
"""

from __future__ import annotations

import asyncio
import sys

from app.core.config import ConfigError, Settings

USAGE = "usage: python -m app [serve|worker]"


def serve(settings: Settings) -> None:
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        "app.main:app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=1,
        websockets=False,
        log_level=LogLevels(settings.log_level.lower()),
        log_access=False,  # the app writes its own access log line with the request id
        workers_kill_timeout=30,  # SIGTERM: in-flight requests get up to 30 s to finish
        respawn_failed_workers=True,
        # Slow or idle clients: the request head must arrive within this, and hyper closes a keep-alive
        # connection that stays idle as long. (The body has its own deadline in the app: core/edge.py.)
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.http_header_timeout_seconds * 1000)),
    ).serve()


def work(settings: Settings) -> None:
    from app.background import register_jobs
    from app.main import DOCUMENT_MODELS
    from app.worker.process import MetricsPortInUse, serve_worker

    try:
        asyncio.run(serve_worker(settings, DOCUMENT_MODELS, register_jobs))
    except MetricsPortInUse as exc:
        sys.exit(f"orbix: {exc}")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    modes = {"serve": serve, "worker": work}
    if command not in modes or len(args) > 1:
        sys.exit(USAGE)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"orbix: configuration error: {exc}")
    modes[command](settings)


if __name__ == "__main__":
    main()
