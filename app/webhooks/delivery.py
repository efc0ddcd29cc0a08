"""One delivery attempt: check the URL again, POST the signed event through the guarded client (transport.py).

Standard Webhooks signing (`webhook-id` = the event id, `webhook-timestamp`, `webhook-signature: v1,<base64
HMAC-SHA256 of "id.timestamp.body">`) with the `standardwebhooks` package. 2xx within 10 s is success; any
other status, a timeout, a refused connection or a redirect (never followed) is a failed attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from typing import cast
from urllib.parse import SplitResult, quote

import httpx
from standardwebhooks import Webhook

from app.core import error_text
from app.core.clock import utc_now
from app.webhooks.transport import PoolTransport
from app.webhooks.url_guard import UnsafeUrl, check_shape, check_url, host_and_port

ATTEMPT_TIMEOUT_SECONDS = 10.0
USER_AGENT = "Orbix-Webhooks/1.0"
MAX_CONNECTIONS = 64  # overall, across endpoints; each endpoint is further bounded by the worker (group)
MAX_IDLE = 16  # kept-alive connections kept for reuse
KEEPALIVE_SECONDS = 5.0  # an idle connection older than this is closed, not reused (servers drop them)
MAX_BODY_READ = 1_048_576  # bytes of an answer's body read to keep the connection; beyond, it is closed
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
            "error": error_text.cut(self.error) if self.error is not None else None,
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
    """The one HTTP client of webhook deliveries: an httpx client over a pool shared by every endpoint,
    bounded overall, with one TLS context (certifi's CAs, as httpx's; a test passes its own `tls_context`).
    Made on first use in a running loop (again in another loop: connections belong to theirs)."""

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
        self._tls = tls_context or httpx.create_ssl_context()
        self._client: httpx.AsyncClient | None = None
        self._transport: PoolTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> tuple[httpx.AsyncClient, PoolTransport]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._transport is None or self._loop is not loop:
            self._transport = PoolTransport(
                ssl_context=self._tls,
                allow_private=self.allow_private,
                max_connections=MAX_CONNECTIONS,
                max_idle=MAX_IDLE,
                keepalive=KEEPALIVE_SECONDS,
            )
            self._client = httpx.AsyncClient(
                transport=self._transport, timeout=self.timeout, follow_redirects=False, trust_env=False
            )
            self._loop = loop
        return self._client, self._transport

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = self._transport = self._loop = None

    async def attempt(self, url: str, secret: str, event_id: str, body: str) -> Attempt:
        at = utc_now()
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        permanent = False
        try:
            async with asyncio.timeout(self.timeout):  # the whole attempt, DNS included
                status_code, location = await self._post(url, sign(secret, event_id, at, body), body)
            if 300 <= status_code < 400:
                error = f"redirect to {location or '?'!r} (not followed)"
            elif not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except UnsafeUrl as exc:
            error, permanent = f"refused: {exc}", exc.permanent
        except (TimeoutError, httpx.TimeoutException):
            error = f"timed out after {self.timeout:g} s"
        except httpx.TransportError as exc:
            error = error_text.describe(exc)
        except (ValueError, httpx.InvalidURL) as exc:  # UnicodeError too: the request cannot be written, ever
            why = str(exc) if isinstance(exc, CannotSend) else f"{type(exc).__name__}: {exc}"
            error, permanent = f"cannot be sent: {why}", True
        duration_ms = round((time.perf_counter() - started) * 1000)
        error = error_text.cut(error) if error is not None else None
        return Attempt(
            at=at, status_code=status_code, duration_ms=duration_ms, error=error, permanent=permanent
        )

    async def _post(self, url: str, headers: dict[str, str], body: str) -> tuple[int, str | None]:
        """POST to the URL with its host in IDNA form. A direct connection checks the addresses it connects to
        (transport.GuardedBackend); through a proxy, the host is resolved and checked here, and the proxy
        connects. The answer's body is read to keep the connection (up to MAX_BODY_READ); one delimited only
        by the connection's end is not waited for (the status is all a delivery needs)."""
        parts = check_shape(url, https_only=self.https_only)
        host, port = host_and_port(parts)
        client, transport = self._http()
        if transport.proxy_for(parts.scheme, host) is not None:
            await check_url(url, https_only=self.https_only, allow_private=self.allow_private)
        await asyncio.sleep(0)  # the checks and the send: two short steps (the loop serves requests)
        request = client.build_request("POST", _request_url(parts, host, port), headers=headers, content=body)
        response = await client.send(request, stream=True)
        try:
            if "content-length" in response.headers or "transfer-encoding" in response.headers:
                read = 0
                async with contextlib.aclosing(cast(AsyncGenerator[bytes], response.aiter_raw())) as chunks:
                    async for chunk in chunks:
                        read += len(chunk)
                        if read > MAX_BODY_READ:
                            break  # not worth reading on: closed unread, the connection goes
            return response.status_code, response.headers.get("location")
        finally:
            await response.aclose()


def _request_url(parts: SplitResult, host: str, port: int) -> str:
    """The URL as sent: the host in IDNA form, the path and query percent-encoded where they are not."""
    bracketed = f"[{host}]" if ":" in host else host
    path = quote(parts.path or "/", safe=PATH_SAFE)
    query = quote(parts.query, safe=QUERY_SAFE)
    return f"{parts.scheme}://{bracketed}:{port}{path}{'?' + query if query else ''}"
