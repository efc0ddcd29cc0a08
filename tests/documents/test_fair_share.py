"""API.md section 24, the rendering rows: renders at once per organisation, pages per document, one render's
time. The renderers are shared by the whole process (pool.py), so each test puts the suite's limits back."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest

from app.config import Settings
from app.documents import pool
from tests.conftest import assert_problem, register, serve
from tests.documents import stuck
from tests.documents.factories import set_business, worked_example
from tests.invoices.factories import create_invoice, send_invoice

LONG_LINE = {"description": "a\n" * 250, "quantity": "1", "unit_price": "1"}  # about 6 pages


@pytest.fixture(autouse=True)
def _default_limits() -> Iterator[None]:
    yield
    pool.configure(Settings.from_env())


class Gate:
    """Holds the first `count` calls that reach a renderer until `open` is set; later ones pass."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
        self.count, self.held = count, 0
        self.full, self.open = asyncio.Event(), asyncio.Event()
        call = pool.Renderer.call

        async def gated(renderer: pool.Renderer, *args: Any) -> Any:
            if self.held < self.count:
                self.held += 1
                if self.held == self.count:
                    self.full.set()
                await self.open.wait()
            return await call(renderer, *args)

        monkeypatch.setattr(pool.Renderer, "call", gated)


async def until(condition: Any, *tasks: asyncio.Task[Any]) -> None:
    """Let the loop run until `condition()` holds (or one of `tasks` ended early: the test then fails)."""
    for _ in range(1_000_000):
        if condition() or any(task.done() for task in tasks):
            break
        await asyncio.sleep(0)
    assert condition()


async def test_a_third_render_of_one_organisation_waits_then_429_while_another_renders(make_app, monkeypatch):
    gate = Gate(monkeypatch, 2)
    async with serve(make_app(render_wait_seconds=0.05)) as http:
        a, b = await register(http, "a@example.com"), await register(http, "b@example.com")
        drafts = [(await create_invoice(http, a.headers))["id"] for _ in range(3)]
        theirs = (await create_invoice(http, b.headers))["id"]
        held = [
            asyncio.create_task(http.get(f"/api/invoices/{draft}/pdf", headers=a.headers))
            for draft in drafts[:2]
        ]
        full = asyncio.create_task(gate.full.wait())
        await asyncio.wait([full, *held], return_when=asyncio.FIRST_COMPLETED)
        assert gate.full.is_set(), [task.result().text for task in held if task.done()]

        third = await http.get(f"/api/invoices/{drafts[2]}/pdf", headers=a.headers)
        body = assert_problem(third, 429, "quota_exceeded")
        assert "RENDER_CONCURRENCY_PER_ORG" in body["detail"]
        assert int(third.headers["retry-after"]) >= 1
        other = await http.get(f"/api/invoices/{theirs}/pdf", headers=b.headers)
        assert other.status_code == 200 and other.content.startswith(b"%PDF")

        gate.open.set()
        assert [(await task).status_code for task in held] == [200, 200]
        metrics = (await http.get("/metrics")).text
        assert 'orbix_quota_exceeded_total{limit="RENDER_CONCURRENCY_PER_ORG"} 1.0' in metrics


async def test_a_render_waiting_for_its_turn_runs_when_one_of_its_organisation_ends(make_app, monkeypatch):
    gate = Gate(monkeypatch, 2)
    async with serve(make_app(render_wait_seconds=600)) as http:
        a = await register(http, "a@example.com")
        drafts = [(await create_invoice(http, a.headers))["id"] for _ in range(3)]
        renders = [
            asyncio.create_task(http.get(f"/api/invoices/{draft}/pdf", headers=a.headers)) for draft in drafts
        ]
        await until(lambda: gate.full.is_set() and pool.renderers.share.waiting(a.id) == 1, *renders)
        gate.open.set()
        assert [(await task).status_code for task in renders] == [200, 200, 200]


@pytest.mark.parametrize("e_invoice", ["none", "factur-x"])
async def test_a_document_over_the_page_limit_is_422_and_its_send_takes_no_number(make_app, e_invoice):
    async with serve(make_app(document_max_pages=2)) as http:
        user = await register(http, "a@example.com")
        await set_business(http, user.headers, e_invoice=e_invoice)
        draft = (await worked_example(http, user.headers, lines=[LONG_LINE]))["id"]

        pdf = await http.get(f"/api/invoices/{draft}/pdf", headers=user.headers)
        assert "DOCUMENT_MAX_PAGES" in assert_problem(pdf, 422, "document_too_large")["detail"]
        sent = await http.post(f"/api/invoices/{draft}/send", headers=user.headers)
        assert_problem(sent, 422, "document_too_large")

        invoice = (await http.get(f"/api/invoices/{draft}", headers=user.headers)).json()
        assert (invoice["status"], invoice["number"], invoice["document"]) == ("draft", None, None)
        short = await send_invoice(http, user.headers, (await worked_example(http, user.headers))["id"])
        assert short["number"] == "INV-0001"  # the refused send used no number


async def test_a_render_that_runs_too_long_is_503_and_its_process_is_replaced(make_app, monkeypatch):
    started: list[int] = []
    start = pool.Renderer.start

    async def recording(renderer: pool.Renderer) -> int:
        started.append(await start(renderer))
        return started[-1]

    monkeypatch.setattr(pool.Renderer, "start", recording)
    async with serve(make_app(render_timeout_seconds=0.5)) as http:
        user = await register(http, "a@example.com")
        draft = (await create_invoice(http, user.headers))["id"]
        with monkeypatch.context() as stuck_render:
            stuck_render.setattr(pool, "_job", stuck.hang)
            response = await http.get(f"/api/invoices/{draft}/pdf", headers=user.headers)
        assert "RENDER_TIMEOUT_SECONDS" in assert_problem(response, 503, "render_timeout")["detail"]
        [stuck_pid] = started
        with pytest.raises(ProcessLookupError):  # killed, and reaped before the answer
            os.kill(stuck_pid, 0)

    async with serve(make_app()) as http:  # the same renderers, with the default time limit
        user = await register(http, "a@example.com")
        draft = (await create_invoice(http, user.headers))["id"]
        response = await http.get(f"/api/invoices/{draft}/pdf", headers=user.headers)
        assert response.status_code == 200 and response.content.startswith(b"%PDF")
