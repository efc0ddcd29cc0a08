"""Settings read once from the environment, validated, and passed down."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.core.text import normalize_email

log = logging.getLogger("orbix.config")

APP_ENVS = ("development", "test", "production")
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
WORKER_MODES = ("inline", "off")
DEFAULT_WEBHOOK_RETRY_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h"
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_PRODUCTION_SECRET = 32
MAX_BODY_BYTES = 1024 * 1024


class ConfigError(ValueError):
    """A bad environment value; the message names the variable."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    app_env: str = "development"
    mongodb_url: str | None = None
    mongodb_db: str = "orbix"
    mongodb_timeout_ms: int = 15000
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48), repr=False)
    jwt_secret_generated: bool = True
    jwt_expires_minutes: int = 10080
    bcrypt_rounds: int = 12
    cors_origins: tuple[str, ...] = ()
    # The session cookies' Secure attribute (API.md section 20): off only in development.
    session_cookie_secure: bool = True
    auth_rate_limit_per_minute: int = 10
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    ai_base_url: str | None = None
    ai_api_key: str | None = field(default=None, repr=False)
    ai_model: str | None = None
    ai_timeout_seconds: float = 30.0
    ai_max_retries: int = 2
    log_level: str = "INFO"
    log_format: str = "json"
    host: str = "0.0.0.0"  # noqa: S104 - a server in a container listens on all interfaces
    port: int = 8000
    # The whole request body must arrive within this (a body trickling 1 byte per 5 s is cut off with 408).
    request_body_timeout_seconds: float = 30.0
    # granian's header_read_timeout: the request head must arrive within this, and an idle keep-alive
    # connection is closed after it.
    http_header_timeout_seconds: float = 10.0
    worker: str = "inline"
    worker_metrics_port: int = 9100
    webhook_retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    webhook_allow_private_urls: bool = False
    smtp_host: str | None = None  # unset: e-mail answers 503 email_unavailable
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = True
    smtp_from: str | None = None  # the envelope sender and From address; required with smtp_host
    smtp_timeout_seconds: float = 30.0
    # Fair share (API.md section 24): what one owner (later: one organisation) may use.
    webhook_endpoints_max: int = 20  # per owner
    email_daily_limit: int = 200  # e-mails per owner per rolling 24 h, however many recipients each
    webhook_manual_retries_per_hour: int = 60  # per endpoint, rolling hour
    # Fair share of the renderers (API.md section 24; docs/operations.md#fair-share): renders and validations
    # of one organisation at once, how long another waits for its turn, the pages of one document, one render.
    render_concurrency_per_org: int = 2
    render_wait_seconds: float = 10.0
    document_max_pages: int = 50
    render_timeout_seconds: float = 30.0
    # Organisations (API.md section 19): the SPA's base URL for e-mailed links, and how many one user owns.
    public_url: str = "http://127.0.0.1:8000"
    organizations_per_user_max: int = 10

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def ai_configured(self) -> bool:
        return bool(self.ai_base_url and self.ai_model)

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host and self.smtp_from)

    def jobs_unreachable(self, *, worker_process: bool) -> str | None:
        """Why no job would ever run in this set-up, or None. The embedded store lives in one process, so
        a separate worker never sees the API's jobs: `python -m app worker` and an API with WORKER=off both
        need MONGODB_URL. APP_ENV=test is exempt: the test suite runs jobs itself, in its own process."""
        if self.mongodb_url or self.app_env == "test":
            return None
        if worker_process:
            return (
                "MONGODB_URL: must be set for `python -m app worker`: without it the worker has an in-memory "
                "store of its own and never sees the API's jobs (the API's default WORKER=inline runs them)"
            )
        if self.worker == "off":
            return (
                "WORKER: `off` needs MONGODB_URL: on the embedded in-memory store no other process sees this "
                "one's jobs, so no e-mail or webhook would ever be delivered; use WORKER=inline"
            )
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Env(os.environ if environ is None else environ)
        app_env = env.choice("APP_ENV", "development", APP_ENVS)
        jwt_secret = env.text("JWT_SECRET")
        mongodb_url = env.text("MONGODB_URL")
        if app_env == "production":
            if not jwt_secret or len(jwt_secret) < MIN_PRODUCTION_SECRET:
                raise ConfigError(
                    f"JWT_SECRET: must be at least {MIN_PRODUCTION_SECRET} characters when APP_ENV=production"
                )
            if not mongodb_url:
                raise ConfigError("MONGODB_URL: must be set when APP_ENV=production")
        if mongodb_url:
            _check_mongodb_url(mongodb_url)
        if "*" in env.items("CORS_ORIGINS"):
            raise ConfigError(
                "CORS_ORIGINS: list the origins; `*` cannot be allowed with credentials (cookies)"
            )
        session_cookie_secure = env.boolean("SESSION_COOKIE_SECURE", app_env != "development")
        if app_env == "production" and not session_cookie_secure:
            raise ConfigError("SESSION_COOKIE_SECURE: must not be false when APP_ENV=production")
        allow_private_urls = env.boolean("WEBHOOK_ALLOW_PRIVATE_URLS", False)
        if app_env == "production" and allow_private_urls:
            raise ConfigError("WEBHOOK_ALLOW_PRIVATE_URLS: must not be true when APP_ENV=production")
        ai_base_url = env.text("AI_BASE_URL")
        if ai_base_url and not ai_base_url.startswith(("http://", "https://")):
            raise ConfigError("AI_BASE_URL: must start with http:// or https://")
        smtp = _smtp_settings(env, production=app_env == "production")
        secret_kwargs: dict[str, object] = {}
        if jwt_secret:
            secret_kwargs = {"jwt_secret": jwt_secret, "jwt_secret_generated": False}
        return cls(
            app_env=app_env,
            mongodb_url=mongodb_url,
            mongodb_db=env.text("MONGODB_DB") or "orbix",
            mongodb_timeout_ms=env.integer("MONGODB_TIMEOUT_MS", 15000, 100, 600000),
            jwt_expires_minutes=env.integer("JWT_EXPIRES_MINUTES", 10080, 1, 525600),
            bcrypt_rounds=env.integer("BCRYPT_ROUNDS", 12, 4, 16),
            cors_origins=env.items("CORS_ORIGINS"),
            session_cookie_secure=session_cookie_secure,
            auth_rate_limit_per_minute=env.integer("AUTH_RATE_LIMIT_PER_MINUTE", 10, 1, 100000),
            trusted_proxies=env.networks("TRUSTED_PROXIES"),
            ai_base_url=ai_base_url.rstrip("/") if ai_base_url else None,
            ai_api_key=env.text("AI_API_KEY"),
            ai_model=env.text("AI_MODEL"),
            ai_timeout_seconds=env.number("AI_TIMEOUT_SECONDS", 30.0, 0.1, 600.0),
            ai_max_retries=env.integer("AI_MAX_RETRIES", 2, 0, 10),
            log_level=env.choice("LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
            log_format=env.choice("LOG_FORMAT", "json", LOG_FORMATS),
            host=env.text("HOST") or "0.0.0.0",  # noqa: S104
            port=env.integer("PORT", 8000, 1, 65535),
            request_body_timeout_seconds=env.number("REQUEST_BODY_TIMEOUT_SECONDS", 30.0, 0.1, 600.0),
            http_header_timeout_seconds=env.number("HTTP_HEADER_TIMEOUT_SECONDS", 10.0, 0.1, 600.0),
            worker=env.choice("WORKER", "inline", WORKER_MODES),
            worker_metrics_port=env.integer("WORKER_METRICS_PORT", 9100, 1, 65535),
            webhook_retry_schedule=env.durations("WEBHOOK_RETRY_SCHEDULE", DEFAULT_WEBHOOK_RETRY_SCHEDULE),
            webhook_allow_private_urls=allow_private_urls,
            webhook_endpoints_max=env.integer("WEBHOOK_ENDPOINTS_MAX", 20, 1, 10000),
            email_daily_limit=env.integer("EMAIL_DAILY_LIMIT", 200, 1, 1_000_000),
            webhook_manual_retries_per_hour=env.integer("WEBHOOK_MANUAL_RETRIES_PER_HOUR", 60, 1, 100_000),
            render_concurrency_per_org=env.integer("RENDER_CONCURRENCY_PER_ORG", 2, 1, 64),
            render_wait_seconds=env.number("RENDER_WAIT_SECONDS", 10.0, 0.0, 600.0),
            document_max_pages=env.integer("DOCUMENT_MAX_PAGES", 50, 1, 100000),
            render_timeout_seconds=env.number("RENDER_TIMEOUT_SECONDS", 30.0, 0.1, 3600.0),
            public_url=_public_url(env.text("PUBLIC_URL"), production=app_env == "production"),
            organizations_per_user_max=env.integer("ORGANIZATIONS_PER_USER_MAX", 10, 1, 10000),
            **smtp,  # type: ignore[arg-type]
            **secret_kwargs,  # type: ignore[arg-type]
        )


def _public_url(value: str | None, *, production: bool) -> str:
    """PUBLIC_URL: an absolute http(s) URL, https in production, where it must be set: the default points
    at the local machine, and e-mailed links with it would reach nobody."""
    if value is None:
        if production:
            raise ConfigError("PUBLIC_URL: must be set to the SPA's https:// URL when APP_ENV=production")
        return "http://127.0.0.1:8000"
    if not value.startswith(("http://", "https://")) or "://" == value[-3:]:
        raise ConfigError("PUBLIC_URL: must be an absolute http:// or https:// URL")
    if production and not value.startswith("https://"):
        raise ConfigError("PUBLIC_URL: must start with https:// when APP_ENV=production")
    return value.rstrip("/")


SMTPS_PORT = 465  # implicit TLS from the first byte; every other port speaks plain SMTP, then STARTTLS


def _smtp_settings(env: _Env, *, production: bool) -> dict[str, object]:
    """SMTP_*: all optional (no host: e-mail is off), but a host needs a From address, and credentials
    never cross the network in clear in production."""
    host, sender = env.text("SMTP_HOST"), env.text("SMTP_FROM")
    username, password = env.text("SMTP_USERNAME"), env.text("SMTP_PASSWORD")
    port = env.integer("SMTP_PORT", 587, 1, 65535)
    starttls = env.boolean("SMTP_STARTTLS", True)
    if host and not sender:
        raise ConfigError("SMTP_FROM: must be set when SMTP_HOST is (the address invoices are sent from)")
    if sender:
        try:
            sender = normalize_email(sender)
        except ValueError:
            raise ConfigError(f"SMTP_FROM: expected an e-mail address, got {sender!r}") from None
    if bool(username) != bool(password):
        raise ConfigError("SMTP_USERNAME and SMTP_PASSWORD: set both or neither")
    if production and username and not starttls and port != SMTPS_PORT:
        raise ConfigError(
            "SMTP_STARTTLS: must be true when SMTP_USERNAME is set and APP_ENV=production"
            " (the password would cross the network in clear), or use SMTP_PORT=465"
        )
    return {
        "smtp_host": host,
        "smtp_port": port,
        "smtp_username": username,
        "smtp_password": password,
        "smtp_starttls": starttls,
        "smtp_from": sender,
        "smtp_timeout_seconds": env.number("SMTP_TIMEOUT_SECONDS", 30.0, 0.1, 600.0),
    }


def _check_mongodb_url(url: str) -> None:
    """Parsed as the driver will at start-up, so a typo is one line here rather than a traceback later.
    A mongodb+srv:// host is not looked up (that needs DNS): its string is checked as a mongodb:// one.
    Reads must see the writes just made (a delete's tombstone, then its reference check): a read
    preference that may read from a secondary is refused."""
    from pymongo import uri_parser
    from pymongo.errors import PyMongoError

    if url.startswith("mongodb+srv://"):
        url = "mongodb://" + url.removeprefix("mongodb+srv://")
    elif not url.startswith("mongodb://"):
        raise ConfigError("MONGODB_URL: must start with mongodb:// or mongodb+srv://")
    try:
        with warnings.catch_warnings():  # unknown options: the client itself warns about them
            warnings.simplefilter("ignore")
            parsed = uri_parser.parse_uri(url, warn=True)  # warn=True: as lenient as MongoClient is
    except (PyMongoError, ValueError) as exc:  # the driver's messages never repeat the credentials
        raise ConfigError(f"MONGODB_URL: not a valid MongoDB connection string: {exc}") from None
    read_preference = parsed["options"].get("readPreference", "primary")
    if str(read_preference).lower() != "primary":
        raise ConfigError(
            f"MONGODB_URL: readPreference={read_preference} may read from a secondary; Orbix needs to read "
            "its own writes: remove it or use readPreference=primary"
        )


class _Env:
    """Typed readers over an environment mapping; each error names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}: must be between {low} and {high}, got {value}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
        if not low <= value <= high:  # also false for NaN
            raise ConfigError(f"{name}: must be between {low} and {high}, got {raw}")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...], *, upper: bool = False) -> str:
        raw = self.text(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise ConfigError(f"{name}: must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in ("true", "1", "yes"):
            return True
        if raw.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")

    def durations(self, name: str, default: str) -> tuple[float, ...]:
        """`5s,5m,2h,1d`: a comma-separated list of delays, each a positive number and a unit."""
        raw = self.text(name) or default
        values = []
        for item in (part.strip() for part in raw.split(",")):
            unit = _DURATION_UNITS.get(item[-1:].lower())
            try:
                amount = float(item[:-1]) if unit else -1.0
            except ValueError:
                amount = -1.0
            if unit is None or not 0 < amount <= 1e6:
                raise ConfigError(
                    f"{name}: expected delays like 5s,5m,2h,1d separated by commas, got {item!r}"
                )
            values.append(amount * unit)
        return tuple(values)

    def items(self, name: str) -> tuple[str, ...]:
        raw = self.text(name) or ""
        return tuple(item.strip() for item in raw.split(",") if item.strip())

    def networks(self, name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        try:
            return tuple(ipaddress.ip_network(item, strict=False) for item in self.items(name))
        except ValueError as exc:
            raise ConfigError(
                f"{name}: expected comma-separated IP addresses or CIDR networks ({exc})"
            ) from None
