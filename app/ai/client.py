"""The one place that talks to the AI service (OpenAI-compatible Chat Completions).

One shared `httpx.AsyncClient`; each attempt is bounded by `AI_TIMEOUT_SECONDS` and a timed-out attempt is
not retried (504). Connection errors, 429 and 5xx are retried with exponential backoff and jitter (tenacity),
429 honouring `Retry-After` up to `MAX_RETRY_AFTER_SECONDS`; any other answer that is not a usable 2xx is a
502. A circuit breaker around whole calls answers 503 at once while the service keeps failing.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx
import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from app.config import Settings
from app.core.errors import UpstreamBadGateway, UpstreamTimeout, UpstreamUnavailable

log = logging.getLogger("orbix.ai")

T = TypeVar("T")

FAILURE_THRESHOLD = 5
RESET_TIMEOUT_SECONDS = 30.0
MAX_RETRY_AFTER_SECONDS = 20.0
BACKOFF_MAX_SECONDS = 8.0
BACKOFF_JITTER_SECONDS = 1.0
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
DEFAULT_TEMPERATURE = 0.4

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


# --- wire shapes -------------------------------------------------------------------------------------------


class ChatMessage(msgspec.Struct):
    role: Literal["system", "user", "assistant"]
    content: str


class _ChatRequest(msgspec.Struct):
    model: str
    messages: list[ChatMessage]
    temperature: float


class _AnswerMessage(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _AnswerMessage


class _ChatCompletion(msgspec.Struct):
    """The part of a Chat Completions response Orbix reads; every other field is ignored."""

    choices: list[_Choice]
    model: str | None = None


class Completion(msgspec.Struct, frozen=True):
    text: str
    model: str


# --- circuit breaker ---------------------------------------------------------------------------------------


class CircuitBreaker:
    """Closed → open after `threshold` consecutive failed calls → after `reset_timeout` one trial call
    (half-open) → closed on its success, open again on its failure. `clock` is monotonic seconds."""

    def __init__(
        self,
        *,
        threshold: int = FAILURE_THRESHOLD,
        reset_timeout: float = RESET_TIMEOUT_SECONDS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        if self._opened_at is None:
            return "closed"
        if self._trial_running or self._clock() - self._opened_at >= self.reset_timeout:
            return "half_open"
        return "open"

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        trial = self._admit()
        try:
            result = await operation()
        except Exception:
            self._record_failure(trial)
            raise
        except BaseException:  # cancelled: neither a success nor a failure of the service
            if trial:
                self._trial_running = False
            raise
        self._record_success()
        return result

    def _admit(self) -> bool:
        """True when this call is the half-open trial; raises 503 while the circuit is open."""
        if self._opened_at is None:
            return False
        remaining = self._opened_at + self.reset_timeout - self._clock()
        if remaining > 0 or self._trial_running:
            retry_after = max(1, math.ceil(remaining))
            raise UpstreamUnavailable(
                "The AI service is failing; generation is paused for a moment, try again shortly",
                headers={"Retry-After": str(retry_after)},
            )
        self._trial_running = True
        return True

    def _record_failure(self, trial: bool) -> None:
        self._failures += 1
        if trial:  # the service is still failing: another full cool-down
            self._trial_running = False
            self._open()
        elif self._opened_at is None and self._failures >= self.threshold:
            self._open()  # (a call still in flight when the circuit opened does not extend it)

    def _open(self) -> None:
        log.warning("AI circuit open after %d consecutive failed calls", self._failures)
        self._opened_at = self._clock()

    def _record_success(self) -> None:
        if self._opened_at is not None:
            log.info("AI circuit closed")
        self._failures = 0
        self._opened_at = None
        self._trial_running = False


# --- the client --------------------------------------------------------------------------------------------


class _Retryable(Exception):
    """An attempt that may be repeated: connection error, 429 or 5xx. Becomes a 502 once retries run out."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class _TooLarge(Exception):
    pass


class AIClient:
    """Chat Completions over one shared httpx.AsyncClient; `transport`, `sleep` and `clock` are for tests."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._timeout = settings.ai_timeout_seconds
        self._url = f"{(settings.ai_base_url or '').rstrip('/')}/chat/completions"
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self.breaker = CircuitBreaker(clock=clock)
        self._backoff = wait_exponential_jitter(max=BACKOFF_MAX_SECONDS, jitter=BACKOFF_JITTER_SECONDS)

    @property
    def configured(self) -> bool:
        return self.settings.ai_configured

    def _client(self) -> httpx.AsyncClient:
        """The one shared client, built on first use (an unconfigured Orbix never pays for its TLS setup)."""
        if self._http is None:
            headers = {"Accept": "application/json", "User-Agent": "orbix"}
            if self.settings.ai_api_key:
                headers["Authorization"] = f"Bearer {self.settings.ai_api_key}"
            self._http = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(self._timeout),
                transport=self._transport,
                follow_redirects=False,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def complete(
        self, messages: list[ChatMessage], *, temperature: float = DEFAULT_TEMPERATURE
    ) -> Completion:
        """The assistant's answer to `messages`, or an Upstream* error (502, 503, 504)."""
        if not self.configured:
            raise UpstreamUnavailable("AI generation is not configured (set AI_BASE_URL and AI_MODEL)")
        model = self.settings.ai_model or ""
        payload = msgspec.json.encode(_ChatRequest(model=model, messages=messages, temperature=temperature))
        return await self.breaker.call(lambda: self._with_retries(payload, model))

    async def _with_retries(self, payload: bytes, model: str) -> Completion:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(1 + self.settings.ai_max_retries),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            return await retrying(self._attempt, payload, model)
        except _Retryable as exc:
            attempts = 1 + self.settings.ai_max_retries
            raise UpstreamBadGateway(f"{exc.detail} ({attempts} attempts)") from None

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, _Retryable) and failure.retry_after is not None:
            return min(failure.retry_after, MAX_RETRY_AFTER_SECONDS)
        return float(self._backoff(state))

    async def _attempt(self, payload: bytes, model: str) -> Completion:
        try:
            async with asyncio.timeout(self._timeout):
                status, headers, body = await self._post(payload)
        except (TimeoutError, httpx.TimeoutException):
            raise UpstreamTimeout(f"The AI service did not answer within {self._timeout:g} s") from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Retryable(f"The AI service could not be reached ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:  # a bad URL, a proxy refusal: repeating it cannot help
            raise UpstreamBadGateway(f"The AI service could not be called ({type(exc).__name__})") from None
        except _TooLarge:
            raise UpstreamBadGateway("The AI service answered with an oversized body") from None
        if status == 429 or status >= 500:
            retry_after = _retry_after_seconds(headers.get("retry-after")) if status == 429 else None
            raise _Retryable(f"The AI service answered {status}", retry_after)
        if not 200 <= status < 300:
            raise UpstreamBadGateway(f"The AI service answered {status}")
        return _parse(body, model)

    async def _post(self, payload: bytes) -> tuple[int, httpx.Headers, bytes]:
        headers = {"Content-Type": "application/json"}
        async with self._client().stream("POST", self._url, content=payload, headers=headers) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise _TooLarge
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)


def _parse(body: bytes, configured_model: str) -> Completion:
    try:
        answer = msgspec.json.decode(body, type=_ChatCompletion)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise UpstreamBadGateway("The AI service answered with a body that is no chat completion") from None
    text = answer.choices[0].message.content if answer.choices else None
    if text is None or not text.strip():
        raise UpstreamBadGateway("The AI service answered without any text")
    return Completion(text=text, model=(answer.model or "").strip() or configured_model)


def _retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _log_retry(state: RetryCallState) -> None:
    failure: Any = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0
    log.warning(
        "AI attempt %d failed (%s); retrying in %.2f s",
        state.attempt_number,
        getattr(failure, "detail", type(failure).__name__),
        wait,
    )
