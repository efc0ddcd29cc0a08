"""An app with the AI service configured, its HTTP calls answered by a scripted fake over httpx.MockTransport.

The app runs on the test's own event loop (httpx.ASGITransport + the app's lifespan), so a test can have
several requests in flight at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.ai.client import AIClient
from tests.conftest import register

AI_SETTINGS = {"ai_base_url": "http://ai.test/v1", "ai_model": "test-model", "ai_max_retries": 1}


def completion(
    text: str = "# Ada Lovelace\n\nAnalyst.", model: str | None = "gpt-test-0613"
) -> httpx.Response:
    body: dict[str, Any] = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    if model is not None:
        body["model"] = model
    return httpx.Response(200, json=body)


Outcome = httpx.Response | Exception | Callable[[], Any]


class FakeAI:
    """Answers each attempt with the next scripted outcome (the last one repeats); records every request.

    An outcome may be an httpx.Response, an exception to raise, or an async callable returning a response.
    Backoff sleeps are recorded, not slept; `now` is the circuit breaker's clock.
    """

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = [completion()]
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.now = 1000.0

    def answer(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        if callable(outcome):
            return await outcome()  # type: ignore[no-any-return]
        return outcome

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, app: Litestar) -> AIClient:
        transport = httpx.MockTransport(self.handle)
        return AIClient(app.state.settings, transport, sleep=self.sleep, clock=lambda: self.now)


@pytest.fixture
def fake_ai() -> FakeAI:
    return FakeAI()


@pytest.fixture
async def ai_http(make_app: Callable[..., Litestar], fake_ai: FakeAI) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP over an app whose AI service is configured and answered by `fake_ai`."""
    app = make_app(**AI_SETTINGS)
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:  # entered and left in one task, as anyio's scopes require
        async with app.lifespan():
            await app.state.ai.aclose()
            app.state.ai = fake_ai.client(app)
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(run_lifespan())
    await asyncio.wait_for(started.wait(), 10)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        stop.set()
        await lifespan


@pytest.fixture
async def ai_auth(ai_http: httpx.AsyncClient) -> dict[str, str]:
    return (await register(ai_http, "ada@example.com", "Ada Lovelace")).headers  # type: ignore[arg-type]


def never_answers(started: asyncio.Event) -> Callable[[], Any]:
    """An outcome that signals `started` and then waits (for the attempt deadline or a cancel)."""

    async def outcome() -> httpx.Response:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    return outcome
