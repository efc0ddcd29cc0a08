"""The AI client against httpx.MockTransport: retries, timeouts, unusable answers and the circuit breaker.

Backoff sleeps and the breaker's clock are injected, so nothing here really waits.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.ai.client import MAX_RETRY_AFTER_SECONDS, AIClient, ChatMessage, Completion
from app.config import Settings
from app.core.errors import UpstreamBadGateway, UpstreamTimeout, UpstreamUnavailable

MESSAGES = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Hello")]


def answer(text: str = "# Ada Lovelace", model: str | None = "gpt-test-0613") -> httpx.Response:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    body: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion", "choices": [choice]}
    if model is not None:
        body["model"] = model
    return httpx.Response(200, json=body)


class Harness:
    """An AIClient whose HTTP attempts, sleeps and clock a test controls and counts."""

    def __init__(self, handler: Callable[[httpx.Request], Any], **settings: Any) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.now = 1000.0

        async def transport_handler(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            result = handler(request)
            if hasattr(result, "__await__"):
                result = await result
            return result  # type: ignore[no-any-return]

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        base = Settings(
            ai_base_url="http://ai.test/v1",
            ai_model="test-model",
            ai_api_key="sk-test",
            ai_timeout_seconds=5.0,
            ai_max_retries=2,
        )
        self.ai = AIClient(
            replace(base, **settings),
            httpx.MockTransport(transport_handler),
            sleep=sleep,
            clock=lambda: self.now,
        )

    async def complete(self) -> Completion:
        return await self.ai.complete(MESSAGES)


def sequence(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    """Answer each attempt with the next item; the last one repeats forever."""
    items = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


async def test_complete_returns_text_and_answering_model():
    harness = Harness(sequence(answer("# Ada\n\nAnalyst.")))
    completion = await harness.complete()
    assert completion == Completion(text="# Ada\n\nAnalyst.", model="gpt-test-0613")
    (request,) = harness.requests
    assert request.method == "POST"
    assert str(request.url) == "http://ai.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert json.loads(request.content) == {
        "model": "test-model",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        "temperature": 0.4,
    }


async def test_complete_falls_back_to_configured_model_when_answer_names_none():
    harness = Harness(sequence(answer(model=None)))
    assert (await harness.complete()).model == "test-model"


async def test_complete_without_api_key_sends_no_authorization_header():
    harness = Harness(sequence(answer()), ai_api_key=None, ai_base_url="http://localhost:11434/v1/")
    await harness.complete()
    (request,) = harness.requests
    assert "authorization" not in request.headers
    assert str(request.url) == "http://localhost:11434/v1/chat/completions"


async def test_complete_not_configured_is_unavailable_without_any_attempt():
    harness = Harness(sequence(answer()), ai_base_url=None)
    with pytest.raises(UpstreamUnavailable):
        await harness.complete()
    assert harness.requests == []


async def test_complete_retries_a_server_error_then_succeeds():
    harness = Harness(sequence(httpx.Response(500), answer("# Retried")))
    assert (await harness.complete()).text == "# Retried"
    assert len(harness.requests) == 2
    assert len(harness.sleeps) == 1
    assert 0 < harness.sleeps[0] <= 2.0  # exponential backoff: 1 s plus up to 1 s jitter


async def test_complete_gives_up_after_max_retries_with_bad_gateway():
    harness = Harness(sequence(httpx.Response(503)), ai_max_retries=3)
    with pytest.raises(UpstreamBadGateway):
        await harness.complete()
    assert len(harness.requests) == 4  # 1 + AI_MAX_RETRIES
    first, second, third = harness.sleeps  # exponential: 1, 2, 4 s, each plus up to 1 s of jitter
    assert 1 <= first <= 2 <= second <= 3 and 4 <= third <= 5


async def test_complete_with_zero_retries_makes_one_attempt():
    harness = Harness(sequence(httpx.Response(500)), ai_max_retries=0)
    with pytest.raises(UpstreamBadGateway):
        await harness.complete()
    assert len(harness.requests) == 1
    assert harness.sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_complete_client_error_is_not_retried(status):
    harness = Harness(sequence(httpx.Response(status, json={"error": {"message": "bad"}}), answer()))
    with pytest.raises(UpstreamBadGateway):
        await harness.complete()
    assert len(harness.requests) == 1
    assert harness.sleeps == []


async def test_complete_read_timeout_is_not_retried():
    harness = Harness(sequence(httpx.ReadTimeout("slow"), answer()))
    with pytest.raises(UpstreamTimeout):
        await harness.complete()
    assert len(harness.requests) == 1


async def test_complete_attempt_deadline_bounds_a_slow_answer():
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return answer()

    harness = Harness(slow, ai_timeout_seconds=0.05)
    with pytest.raises(UpstreamTimeout):
        await harness.complete()
    assert len(harness.requests) == 1


async def test_complete_retries_connection_errors():
    harness = Harness(sequence(httpx.ConnectError("refused"), httpx.ConnectError("refused"), answer("# Up")))
    assert (await harness.complete()).text == "# Up"
    assert len(harness.requests) == 3


async def test_complete_connection_error_forever_is_bad_gateway():
    harness = Harness(sequence(httpx.ConnectError("refused")))
    with pytest.raises(UpstreamBadGateway):
        await harness.complete()
    assert len(harness.requests) == 3


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>proxy error</html>"),
        httpx.Response(200, json={"object": "chat.completion"}),
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": None}}]}),
        httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": "  \n"}}]}),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(302, headers={"Location": "http://elsewhere.test/"}),
    ],
    ids=["not-json", "no-choices", "empty-choices", "null-content", "blank-content", "array", "redirect"],
)
async def test_complete_unusable_answer_is_bad_gateway_without_retry(response):
    harness = Harness(sequence(response, answer()))
    with pytest.raises(UpstreamBadGateway):
        await harness.complete()
    assert len(harness.requests) == 1


async def test_complete_oversized_answer_is_bad_gateway():
    harness = Harness(sequence(answer("x" * 3 * 1024 * 1024)))
    with pytest.raises(UpstreamBadGateway):
        await harness.complete()


async def test_complete_rate_limited_honours_retry_after():
    harness = Harness(sequence(httpx.Response(429, headers={"Retry-After": "7"}), answer("# Later")))
    assert (await harness.complete()).text == "# Later"
    assert harness.sleeps == [7.0]
    assert len(harness.requests) == 2


async def test_complete_rate_limited_honours_retry_after_as_http_date():
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    harness = Harness(sequence(httpx.Response(429, headers={"Retry-After": when}), answer()))
    await harness.complete()
    (slept,) = harness.sleeps
    assert 8 <= slept <= 10


async def test_complete_rate_limited_retry_after_is_capped():
    harness = Harness(sequence(httpx.Response(429, headers={"Retry-After": "3600"}), answer()))
    await harness.complete()
    assert harness.sleeps == [MAX_RETRY_AFTER_SECONDS]


async def test_complete_rate_limited_without_retry_after_backs_off_then_gives_up():
    harness = Harness(sequence(httpx.Response(429)))
    with pytest.raises(UpstreamBadGateway):
        await harness.complete()
    assert len(harness.requests) == 3
    assert all(0 < s <= 8.0 for s in harness.sleeps)


async def fail_calls(harness: Harness, count: int) -> None:
    for _ in range(count):
        with pytest.raises((UpstreamBadGateway, UpstreamTimeout)):
            await harness.complete()


async def test_breaker_opens_after_five_failed_calls():
    harness = Harness(sequence(httpx.Response(500)))
    await fail_calls(harness, 5)
    attempts = len(harness.requests)
    assert attempts == 5 * 3  # a call is all of its attempts
    with pytest.raises(UpstreamUnavailable) as raised:
        await harness.complete()
    assert len(harness.requests) == attempts  # the 6th call made no HTTP attempt
    assert raised.value.headers["Retry-After"] == "30"
    harness.now += 29
    with pytest.raises(UpstreamUnavailable):
        await harness.complete()
    assert len(harness.requests) == attempts


async def test_breaker_counts_consecutive_failures_only():
    responses = [httpx.Response(400)] * 4 + [answer()] + [httpx.Response(400)] * 4 + [answer()]
    harness = Harness(sequence(*responses))
    for _ in range(2):
        await fail_calls(harness, 4)
        await harness.complete()
    assert harness.ai.breaker.state == "closed"


async def test_breaker_closes_after_cool_down_with_one_successful_trial_call():
    outcomes: list[httpx.Response] = [httpx.Response(400)] * 5 + [answer("# Back")]
    harness = Harness(sequence(*outcomes, answer("# Again")))
    await fail_calls(harness, 5)
    assert harness.ai.breaker.state == "open"
    harness.now += 30
    assert harness.ai.breaker.state == "half_open"
    assert (await harness.complete()).text == "# Back"
    assert harness.ai.breaker.state == "closed"
    assert (await harness.complete()).text == "# Again"
    assert len(harness.requests) == 7


async def test_breaker_reopens_when_the_trial_call_fails():
    harness = Harness(sequence(httpx.Response(400)))
    await fail_calls(harness, 5)
    harness.now += 30
    await fail_calls(harness, 1)  # the trial reached the service and failed
    assert len(harness.requests) == 6
    with pytest.raises(UpstreamUnavailable):
        await harness.complete()
    assert len(harness.requests) == 6
    harness.now += 30
    await fail_calls(harness, 1)
    assert len(harness.requests) == 7


async def test_breaker_lets_only_one_trial_call_through_at_once():
    release, trial_started = asyncio.Event(), asyncio.Event()
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls <= 5:
            return httpx.Response(400)
        trial_started.set()
        await release.wait()
        return answer("# Trial")

    harness = Harness(handler)
    await fail_calls(harness, 5)
    harness.now += 30
    trial = asyncio.create_task(harness.complete())
    await asyncio.wait_for(trial_started.wait(), 5)
    with pytest.raises(UpstreamUnavailable):
        await harness.complete()
    release.set()
    assert (await trial).text == "# Trial"
    assert harness.ai.breaker.state == "closed"
    assert calls == 6


async def test_breaker_ignores_a_stale_call_that_fails_during_the_trial():
    stale_started, stale_release = asyncio.Event(), asyncio.Event()
    trial_started, trial_release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:  # admitted while the circuit was closed, answers late
            stale_started.set()
            await stale_release.wait()
            return httpx.Response(500)
        if calls <= 6:
            return httpx.Response(400)
        trial_started.set()
        await trial_release.wait()
        return answer("# Trial")

    harness = Harness(handler, ai_max_retries=0)
    stale = asyncio.create_task(harness.complete())
    await asyncio.wait_for(stale_started.wait(), 5)
    await fail_calls(harness, 5)
    harness.now += 30
    trial = asyncio.create_task(harness.complete())
    await asyncio.wait_for(trial_started.wait(), 5)
    stale_release.set()
    with pytest.raises(UpstreamBadGateway):
        await stale
    with pytest.raises(UpstreamUnavailable):  # the trial is still the only call let through
        await harness.complete()
    trial_release.set()
    assert (await trial).text == "# Trial"
    assert harness.ai.breaker.state == "closed"
    assert calls == 7
