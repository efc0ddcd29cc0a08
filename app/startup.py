"""What `python -m app` checks before it serves or migrates, each failure one line and an exit code:
2 for a configuration error (compose shows it instead of restarting into it), 1 for anything else."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from datetime import UTC, datetime
from typing import NoReturn

from app.config import ConfigError, Settings

EXIT_FAILURE = 1
EXIT_CONFIG = 2


def fail(message: str, exit_code: int = EXIT_FAILURE, **fields: object) -> NoReturn:
    """One line on stderr, JSON unless LOG_FORMAT=console (read raw: the setting itself may be the error)."""
    if os.environ.get("LOG_FORMAT", "json").strip().lower() == "console":
        line = f"orbix: {message}"
    else:
        entry = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "CRITICAL",
            "logger": "orbix.startup",
            "message": message,
            **fields,
        }
        line = json.dumps(entry, default=str)
    print(line, file=sys.stderr, flush=True)
    sys.exit(exit_code)


def settings_or_exit() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EXIT_CONFIG)


def ensure_jobs_run(settings: Settings, *, worker_process: bool) -> None:
    """Stop (configuration error) where no job would ever run: a worker, or an API with WORKER=off, on the
    embedded store (Settings.jobs_unreachable)."""
    problem = settings.jobs_unreachable(worker_process=worker_process)
    if problem is not None:
        fail(f"configuration error: {problem}", EXIT_CONFIG)


def ensure_port_free(host: str, port: int) -> None:
    """granian binds with SO_REUSEPORT, so a second server on a taken port would silently share it (and
    half the requests would reach another process, with another JWT secret and store). A plain bind
    (SO_REUSEADDR only, which still fails on a listening socket) finds the port taken first."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(
                    f"port {port} on {host} is already in use (another Orbix or another server); stop it "
                    "or set PORT",
                    port=port,
                    host=host,
                )
            fail(f"cannot listen on {host}:{port}: {exc.strerror}", port=port, host=host)
