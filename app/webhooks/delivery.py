"""One delivery attempt: check the URL again, connect to the checked address, POST the signed event.

Standard Webhooks signing (`webhook-id` = the event id, `webhook-timestamp`, `webhook-signature: v1,<base64
HMAC-SHA256 of "id.timestamp.body">`) with the `standardwebhooks` package. 2xx within 10 s is success; any
other status, a timeout, a refused connection or a redirect (never followed) is a failed attempt.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

import httpx
from standardwebhooks import Webhook

from app.core.clock import utc_now
from app.webhooks.url_guard import Target, UnsafeUrl, check_url

ATTEMPT_TIMEOUT_SECONDS = 10.0
USER_AGENT = "Orbix-Webhooks/1.0"
MAX_CONNECTIONS = 64  # overall, across endpoints; each endpoint is further bounded by the worker (group)


@dataclass(frozen=True)
class Attempt:
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None

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


def sign(secret: str, event_id: str, at: datetime, body: str) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id=event_id, timestamp=at, data=body)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


class Sender:
    """The one HTTP client of webhook deliveries (a pool shared by every endpoint, bounded overall)."""

    def __init__(self, *, https_only: bool, allow_private: bool, timeout: float = ATTEMPT_TIMEOUT_SECONDS):
        self.https_only = https_only
        self.allow_private = allow_private
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=16),
                trust_env=False,  # never through a proxy from the environment: we connect to what we checked
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def attempt(self, url: str, secret: str, event_id: str, body: str) -> Attempt:
        at = utc_now()
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.timeout):  # the whole attempt, DNS included
                target = await check_url(url, https_only=self.https_only, allow_private=self.allow_private)
                response = await self._post(target, sign(secret, event_id, at, body), body)
            status_code = response.status_code
            if response.is_redirect:
                error = f"redirect to {response.headers.get('location', '?')!r} (not followed)"
            elif not response.is_success:
                error = f"HTTP {status_code}"
        except UnsafeUrl as exc:
            error = f"refused: {exc}"
        except TimeoutError:
            error = f"timed out after {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
        duration_ms = round((time.perf_counter() - started) * 1000)
        return Attempt(at=at, status_code=status_code, duration_ms=duration_ms, error=error)

    async def _post(self, target: Target, headers: dict[str, str], body: str) -> httpx.Response:
        """POST to the checked address itself; the URL's host goes in Host and in TLS SNI (and is what the
        certificate is verified against), so the receiver sees the request it expects."""
        address = target.addresses[0]
        literal = f"[{address}]" if ":" in address else address
        url = httpx.URL(target.url.geturl()).copy_with(host=literal.strip("[]"), port=target.port)
        default_port = 443 if target.url.scheme == "https" else 80
        host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
        response = await self.client.post(
            url,
            content=body.encode(),
            headers={**headers, "host": host_header},
            extensions={"sni_hostname": target.host},
        )
        await response.aclose()
        return response
