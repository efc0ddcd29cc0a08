"""`python -m app [serve|worker|migrate]`: serve Orbix with the production server (HOST/PORT from the
environment), run the background worker (docs/operations.md), or reconcile the declared
MongoDB indexes and exit; `python -m app --help` says so.

granian, chosen over uvicorn by measurement (docs/benchmarks.md), one worker per process.
"""

from __future__ import annotations

import asyncio
import sys

from app.config import Settings
from app.startup import EXIT_CONFIG, ensure_jobs_run, ensure_port_free, fail, settings_or_exit


def serve(settings: Settings) -> None:
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    ensure_port_free(settings.host, settings.port)
    try:  # import errors surface here as one line, not in a worker granian would respawn forever
        import app.main  # noqa: F401
    except Exception as exc:
        fail(f"start-up failed: {type(exc).__name__}: {exc}")
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
        # connection that stays idle as long. (The body has its own deadline in the app: http/edge.py.)
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.http_header_timeout_seconds * 1000)),
    ).serve()


def work(settings: Settings) -> None:
    from app.background import register_jobs
    from app.main import DOCUMENT_MODELS
    from app.worker.process import MetricsPortInUse, serve_worker

    try:
        asyncio.run(serve_worker(settings, DOCUMENT_MODELS, register_jobs))
    except MetricsPortInUse as exc:
        fail(str(exc), port=settings.worker_metrics_port)


def migrate(settings: Settings) -> None:
    from app.db.migrate import run
    from app.http.observability import configure_logging
    from app.main import DOCUMENT_MODELS, prepare_stored_data

    configure_logging(settings.log_level, settings.log_format)
    sys.exit(asyncio.run(run(settings, DOCUMENT_MODELS, prepare=prepare_stored_data)))


COMMANDS = {"serve": serve, "worker": work, "migrate": migrate}
HELP_FLAGS = ("-h", "--help", "help")
USAGE = f"usage: python -m app [{'|'.join(COMMANDS)}]"
HELP = f"""{USAGE}

Orbix, the back office of a freelancer or a small agency: one image, three modes.

commands:
  serve    serve the HTTP API with granian on HOST:PORT (default 0.0.0.0:8000); the default command.
           With WORKER=inline (the default) it also runs the background jobs (e-mails, webhooks, recovery)
  worker   run only the background job loop, with its own /metrics on WORKER_METRICS_PORT (default 9100);
           needs MONGODB_URL, the database it shares with the API
  migrate  create missing and replace changed MongoDB indexes, bring stored data in line (e.g. a personal
           organisation for each user from before organisations), then exit

Every setting comes from the environment (MONGODB_URL, JWT_SECRET, APP_ENV, ...): see
docs/operations.md (Configuration). A configuration error stops with one line and exit code 2.
"""


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in HELP_FLAGS:
        print(HELP, end="")
        sys.exit(0)
    command = args[0] if args else "serve"
    if command not in COMMANDS or len(args) > 1:
        fail(f"{USAGE} (python -m app --help says what each does)", EXIT_CONFIG)
    settings = settings_or_exit()
    if command != "migrate":
        ensure_jobs_run(settings, worker_process=command == "worker")
    COMMANDS[command](settings)


if __name__ == "__main__":
    main()
