"""One delivery attempt: check the URL again, connect to the checked address, POST the signed event.

Standard Webhooks signing (`webhook-id` = the event id, `webhook-timestamp`, `webhook-signature: v1,<base64
HMAC-SHA256 of "id.timestamp.body">`) with the `standardwebhooks` package. 2xx within 10 s is success; any
other status, a timeout, a refused connection or a redirect (never followed) is a failed attempt.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from standardwebhooks import Webhook

from app.core.clock import utc_now
from app.webhooks.http_post import Origin, Poster, PostError, Reply
from app.webhooks.url_guard import Target, UnsafeUrl, check_url

ATTEMPT_TIMEOUT_SECONDS = 10.0
USER_AGENT = "Orbix-Webhooks/1.0"
MAX_CONNECTIONS = 64  # overall, across endpoints; each endpoint is further bounded by the worker (group)
MAX_IDLE = 16  # kept-alive connections kept for reuse
# what a URL's path and query may carry as they are (already percent-encoded text stays as it is)
PATH_SAFE = "/%:@!$&'()*+,;=-._~"
QUERY_SAFE = PATH_SAFE + "?"


@dataclass(frozen=True)
class Attempt:
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    # The error is one no later attempt can change (the URL's shape, a host or a request that cannot be
    # encoded): the delivery fails now instead of retrying on the schedule. Not part of the log's record.
    permanent: bool = False

    @property
    def succeeded(self) -> bool:
        return self.error is None

    def as_record(self) -> dict[str, object]:
        return {
            "at": self.at,
            "status_code": self.status_code,
            "duration_ms": self.duration_ms,
            "error": self.error,
        }


class CannotSend(ValueError):
    """The request cannot be written, now or ever; the message says why (it goes into the delivery log)."""


def sign(secret: str, event_id: str, at: datetime, body: str) -> dict[str, str]:
    try:
        signature = Webhook(secret).sign(msg_id=event_id, timestamp=at, data=body)
    except Exception:  # a stored secret that is empty or not base64 (the library's errors vary)
        raise CannotSend("the endpoint's secret cannot sign a delivery; rotate it") from None
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


class Sender:
    """The one HTTP client of webhook deliveries (a pool shared by every endpoint, bounded overall)."""

    def __init__(
        self,
        *,
        https_only: bool,
        allow_private: bool,
        timeout: float = ATTEMPT_TIMEOUT_SECONDS,
        tls_context: ssl.SSLContext | None = None,
    ):
        self.https_only = https_only
        self.allow_private = allow_private
        self.timeout = timeout
        self._poster = Poster(max_connections=MAX_CONNECTIONS, max_idle=MAX_IDLE, tls_context=tls_context)

    async def aclose(self) -> None:
        await self._poster.aclose()

    async def attempt(self, url: str, secret: str, event_id: str, body: str) -> Attempt:
        at = utc_now()
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        permanent = False
        try:
            async with asyncio.timeout(self.timeout):  # the whole attempt, DNS included
                target = await check_url(url, https_only=self.https_only, allow_private=self.allow_private)
                headers = sign(secret, event_id, at, body)
                await asyncio.sleep(0)  # the checks and the send: two short steps (the loop serves requests)
                reply = await self._post(target, headers, body)
            status_code = reply.status
            if 300 <= status_code < 400:
                error = f"redirect to {reply.location or '?'!r} (not followed)"
            elif not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except UnsafeUrl as exc:
            error, permanent = f"refused: {exc}", exc.permanent
        except TimeoutError:
            error = f"timed out after {self.timeout:g} s"
        except PostError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        except ValueError as exc:  # UnicodeError too: the request cannot be written, now or ever
            why = str(exc) if isinstance(exc, CannotSend) else f"{type(exc).__name__}: {exc}"
            error, permanent = f"cannot be sent: {why}"[:300], True
        duration_ms = round((time.perf_counter() - started) * 1000)
        return Attempt(
            at=at, status_code=status_code, duration_ms=duration_ms, error=error, permanent=permanent
        )

    async def _post(self, target: Target, headers: dict[str, str], body: str) -> Reply:
        """POST to the checked address itself; the URL's host goes in Host and in TLS SNI (and is what the
        certificate is verified against), so the receiver sees the request it expects."""
        https = target.url.scheme == "https"
        origin = Origin(target.addresses[0], target.port, target.host if https else None)
        host = f"[{target.host}]" if ":" in target.host else target.host
        default_port = 443 if https else 80
        host_header = host if target.port == default_port else f"{host}:{target.port}"
        path = quote(target.url.path or "/", safe=PATH_SAFE)
        query = quote(target.url.query, safe=QUERY_SAFE)
        request_target = f"{path}?{query}" if query else path
        return await self._poster.post(
            origin, request_target, [("host", host_header), *headers.items()], body.encode()
        )
