"""API.md section 24 for e-mail: EMAIL_DAILY_LIMIT e-mails per owner in any 24 hours, each counted once
however many recipients. A request over it is 429; an e-mail the worker would send over it stays queued,
naming the limit, until the window allows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.core.clock import as_utc, utc_now
from app.db.quota import QuotaWindow
from app.mail import delivery
from app.worker.loop import Worker
from app.worker.models import Job
from tests.conftest import assert_problem, register, serve
from tests.documents.factories import worked_example
from tests.jobs import new_worker
from tests.mail.conftest import SMTP_FROM, SmtpServer
from tests.mail.factories import email_invoice, emails, sent_invoice

LIMIT = 2


@pytest.fixture
def limited_app(make_app: Callable[..., Litestar], smtp_server: SmtpServer) -> Litestar:
    return make_app(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.mailbox.port,
        smtp_starttls=False,
        smtp_from=SMTP_FROM,
        smtp_timeout_seconds=5.0,
        email_daily_limit=LIMIT,
    )


@pytest.fixture
async def http(limited_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(limited_app) as client:
        yield client


@pytest.fixture
async def invoice(http: httpx.AsyncClient) -> dict[str, Any]:
    account = await register(http, "ada@example.com", "Ada Lovelace")
    made = await sent_invoice(http, account.headers, locale="en", e_invoice="none")
    return {"id": made["id"], "headers": account.headers}


def _url(invoice: dict[str, Any]) -> str:
    return f"/api/invoices/{invoice['id']}/email"


async def _a_day_passes() -> None:
    """Time travel: every counted e-mail is a day and a second older, and every waiting job is due."""
    windows = QuotaWindow.get_motor_collection()
    async for window in windows.find({}):
        uses = [{**use, "at": use["at"] - timedelta(days=1, seconds=1)} for use in window["uses"]]
        await windows.update_one({"_id": window["_id"]}, {"$set": {"uses": uses}})
    await Job.get_motor_collection().update_many({"status": "pending"}, {"$set": {"run_at": utc_now()}})


async def test_an_email_over_the_daily_limit_is_429_and_nothing_is_recorded(http, invoice, mailbox):
    many = {"to": ["a@client.example", "b@client.example"], "cc": ["c@client.example"]}
    await email_invoice(http, invoice["headers"], invoice["id"], **many)  # three recipients: one e-mail
    await email_invoice(http, invoice["headers"], invoice["id"])

    refused = await http.post(_url(invoice), json={}, headers=invoice["headers"])
    body = assert_problem(refused, 429, "quota_exceeded")
    assert "EMAIL_DAILY_LIMIT" in body["detail"]
    assert 0 < int(refused.headers["retry-after"]) <= 24 * 3600
    assert len(await emails(http, invoice["headers"], invoice["id"])) == LIMIT

    await _a_day_passes()
    assert (await http.post(_url(invoice), json={}, headers=invoice["headers"])).status_code == 202


async def test_only_accepted_requests_count(http, invoice, mailbox):
    refused = await http.post(_url(invoice), json={"to": ["not-an-address"]}, headers=invoice["headers"])
    assert_problem(refused, 400, "validation_error")
    draft = await worked_example(http, invoice["headers"])
    for _ in range(LIMIT + 1):
        refused = await http.post(f"/api/invoices/{draft['id']}/email", json={}, headers=invoice["headers"])
        assert_problem(refused, 409, "invalid_state")
    for _ in range(LIMIT):
        await email_invoice(http, invoice["headers"], invoice["id"])
    assert_problem(await http.post(_url(invoice), json={}, headers=invoice["headers"]), 429, "quota_exceeded")


async def test_concurrent_requests_never_pass_the_limit_together(http, invoice, mailbox):
    answers = await asyncio.gather(
        *(http.post(_url(invoice), json={}, headers=invoice["headers"]) for _ in range(8))
    )
    assert sorted(answer.status_code for answer in answers) == [202] * LIMIT + [429] * (8 - LIMIT)
    assert len(await emails(http, invoice["headers"], invoice["id"])) == LIMIT


async def test_each_owner_has_a_day_of_its_own(http, invoice, mailbox):
    for _ in range(LIMIT):
        await email_invoice(http, invoice["headers"], invoice["id"])
    other = await register(http, "bob@example.com", "Bob")
    theirs = await sent_invoice(http, other.headers, locale="en", e_invoice="none")
    await email_invoice(http, other.headers, theirs["id"])


async def test_emails_the_worker_would_send_over_the_limit_stay_queued_until_the_window_allows(
    http, invoice, mailbox, limited_app
):
    queued = [await email_invoice(http, invoice["headers"], invoice["id"]) for _ in range(LIMIT)]
    # The limit is lowered to 1 after both were accepted: the worker sends one and holds the other.
    delivery.register(replace(limited_app.state.settings, email_daily_limit=1))
    worker = new_worker()
    await worker.run_until_idle()

    assert len(mailbox.delivered) == 1
    records = {record["id"]: record for record in await emails(http, invoice["headers"], invoice["id"])}
    [held] = [record for record in records.values() if record["status"] == "queued"]
    assert held["attempts"] == 0 and "EMAIL_DAILY_LIMIT" in held["last_error"]
    assert {record["id"] for record in records.values()} == {email["id"] for email in queued}
    job = await Job.get_motor_collection().find_one({"dedupe_key": f"invoice_email:{held['id']}"})
    assert job["status"] == "pending" and job["attempts"] == 0
    assert as_utc(job["run_at"]) > utc_now() + timedelta(hours=23)  # rescheduled, not retried in a loop
    await worker.run_until_idle()
    assert len(mailbox.delivered) == 1

    await _a_day_passes()
    await worker.run_until_idle()
    assert len(mailbox.delivered) == 2
    sent = next(r for r in await emails(http, invoice["headers"], invoice["id"]) if r["id"] == held["id"])
    assert sent["status"] == "sent" and sent["attempts"] == 1 and sent["last_error"] is None


async def test_a_hit_on_either_side_shows_in_the_metrics(http, invoice, mailbox, limited_app):
    for _ in range(LIMIT):
        await email_invoice(http, invoice["headers"], invoice["id"])
    assert_problem(await http.post(_url(invoice), json={}, headers=invoice["headers"]), 429, "quota_exceeded")
    series = 'orbix_quota_exceeded_total{limit="EMAIL_DAILY_LIMIT"}'
    assert f"{series} 1.0" in (await http.get("/metrics")).text

    # the inline worker counts on the API's registry: an e-mail held by the worker shows there too
    delivery.register(replace(limited_app.state.settings, email_daily_limit=1))
    await Worker(limited_app.state.job_metrics).run_until_idle()
    assert f"{series} 2.0" in (await http.get("/metrics")).text
