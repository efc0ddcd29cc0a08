"""`python -m app`: serve Orbix with the production server, HOST/PORT from the environment."""

from __future__ import annotations

import sys

import uvicorn

from app.core.config import ConfigError, Settings


def main() -> None:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"orbix: configuration error: {exc}")
    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,  # the app writes its own access log line with the request id
        server_header=False,
        proxy_headers=False,  # client addresses behind a proxy are resolved by TRUSTED_PROXIES
        timeout_graceful_shutdown=30,
        log_config=None,
    )


if __name__ == "__main__":
    main()
