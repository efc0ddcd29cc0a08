"""API.md section 23, payment reminders: `business.reminders` rules, and the worker pass that e-mails the client
of each sent, unpaid invoice once per rule (the latest only when several are due at once), on the day the
invoice is that many days past due in the organisation's time zone, never for a paid, settled or void
invoice, exactly once however many passes run and wherever one dies. The business clock is moved, never
waited for; e-mails go to a real aiosmtpd server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from app.config import Settings
from app.core.clock import MovableClock, local_midnight, using_clock, utc_now
from app.invoices.models import Invoice
from app.mail import reminders, service
from app.mail.models import EmailRecord
from app.main import create_app
from app.organizations import service as organizations
from app.recovery import recover
from app.webhooks.fanout import fan_out
from app.worker.loop import Worker
from app.worker.models import Job, PeriodicLease
from scripts import store_ops
from tests.clients.factories import create_client
from tests.conftest import Account, assert_problem, register, serve
from tests.faults import Died, Fault, fault_fixture  # noqa: F401
from tests.invoices.factories import add_payment, create_invoice, create_sent_invoice
from tests.jobs import new_worker
from tests.mail.conftest import SMTP_FROM, Mailbox, SmtpServer
from tests.mail.factories import email_invoice, emails
from tests.races import run_competitor
from tests.webhooks.helpers import create_endpoint
from tests.webhooks.receiver import Receiver

DUE = date(2026, 3, 2)


@pytest.fixture
def settings(smtp_server: SmtpServer) -> Settings:
    return replace(
        Settings.from_env(),
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.mailbox.port,
        smtp_starttls=False,
        smtp_from=SMTP_FROM,
        smtp_timeout_seconds=5.0,
    )


@pytest.fixture
def clock() -> Iterator[MovableClock]:
    with using_clock(MovableClock(datetime(2026, 2, 20, 12, tzinfo=UTC))) as moved:
        yield moved  # type: ignore[misc]


@pytest.fixture
async def http(settings: Settings, clock: MovableClock) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings)) as client:
        yield client


@pytest.fixture
async def ada(http: httpx.AsyncClient) -> Account:
    return await register(http, "ada@example.com", "Ada Lovelace")


@pytest.fixture
def worker(http: httpx.AsyncClient) -> Worker:
    return new_worker()


async def set_rules(http: Any, headers: dict[str, str], rules: list[dict[str, Any]], **business: Any) -> Any:
    response = await http.patch(
        "/api/auth/me", json={"business": {"reminders": rules, **business}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["business"]


async def overdue(http: Any, headers: dict[str, str], due: date = DUE, **fields: Any) -> dict[str, Any]:
    """A sent invoice of 100.00 due on `due`, to a client whose e-mail is ap@acme.example."""
    client = await create_client(http, headers, email="ap@acme.example")
    issued = due - timedelta(days=14)
    return await create_sent_invoice(
        http, headers, client["id"], issue_date=issued.isoformat(), due_date=due.isoformat(), **fields
    )


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def run_pass(settings: Settings, worker: Worker) -> int:
    """One reminders pass, then every job it queued (delivery) runs to its end."""
    written = await reminders.remind(settings)
    await worker.run_until_idle()
    return written


async def reminder_emails(http: Any, headers: dict[str, str], invoice_id: str) -> list[dict[str, Any]]:
    return [e for e in await emails(http, headers, invoice_id) if e["kind"] == "reminder"]


async def reminder_events(http: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await http.get(
        "/api/events", params={"types": "invoice.reminder_sent", "limit": 100}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the rules in the profile


async def test_rules_are_stored_ordered_by_day_and_shown_on_both_profile_routes(http, ada):
    rules = [{"days_after_due": 14, "subject": "Second notice"}, {"days_after_due": 0}]
    business = await set_rules(http, ada.headers, rules)
    expected = [
        {"days_after_due": 0, "subject": None, "message": None},
        {"days_after_due": 14, "subject": "Second notice", "message": None},
    ]
    assert business["reminders"] == expected
    organization = (await http.get("/api/organization", headers=ada.headers)).json()
    assert organization["business"]["reminders"] == expected

    body = {"business": {"reminders": [{"days_after_due": 3, "message": "Line one\nline two"}]}}
    changed = await http.patch("/api/organization", json=body, headers=ada.headers)
    assert changed.status_code == 200, changed.text
    me = (await http.get("/api/auth/me", headers=ada.headers)).json()
    assert me["business"]["reminders"] == [
        {"days_after_due": 3, "subject": None, "message": "Line one\nline two"}
    ]
    cleared = await set_rules(http, ada.headers, [])
    assert cleared["reminders"] == []


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([{"days_after_due": 5}, {"days_after_due": 5}], "business.reminders[1].days_after_due"),
        ([{"days_after_due": day} for day in range(6)], "business.reminders"),
        ([{"days_after_due": 366}], "business.reminders[0].days_after_due"),
        ([{"days_after_due": -1}], "business.reminders[0].days_after_due"),
        ([{"days_after_due": 1, "subject": "two\nlines"}], "business.reminders[0].subject"),
        ([{"days_after_due": 1, "subject": ""}], "business.reminders[0].subject"),
        ([{"days_after_due": 1, "when": "later"}], "business.reminders[0].when"),
        ([{}], "business.reminders[0].days_after_due"),
    ],
)
@pytest.mark.parametrize("route", ["/api/auth/me", "/api/organization"])
async def test_bad_rules_are_400_on_both_routes_and_change_nothing(http, ada, rules, field, route):
    await set_rules(http, ada.headers, [{"days_after_due": 9}])
    response = await http.patch(route, json={"business": {"reminders": rules}}, headers=ada.headers)
    body = assert_problem(response, 400, "validation_error")
    assert field in [error["field"] for error in body["errors"]], body
    me = (await http.get("/api/auth/me", headers=ada.headers)).json()
    assert [rule["days_after_due"] for rule in me["business"]["reminders"]] == [9]


async def test_the_openapi_document_describes_the_rules_and_the_email_kind(http):
    schemas = (await http.get("/schema/openapi.json")).json()["components"]["schemas"]
    text = str(schemas)
    assert "days_after_due" in text
    assert "'reminder'" in text and "'invoice'" in text


# ---------------------------------------------------------------- once per rule


async def test_each_rule_is_sent_once_on_its_day_with_the_pdf_and_an_event(
    http, ada, settings, clock, worker, mailbox: Mailbox
):
    await set_rules(
        http, ada.headers, [{"days_after_due": 0}, {"days_after_due": 7, "subject": "Second notice"}]
    )
    invoice = await overdue(http, ada.headers)

    clock.set(at(DUE - timedelta(days=1), 23))
    assert await run_pass(settings, worker) == 0
    assert mailbox.delivered == []

    clock.set(at(DUE))
    assert await run_pass(settings, worker) == 1
    assert await run_pass(settings, worker) == 0  # the same day again: nothing more
    [first] = mailbox.delivered
    message = first.message
    assert first.rcpt_tos == ["ap@acme.example"]
    assert message["Subject"] == f"Reminder: invoice {invoice['number']} from Ada Lovelace is overdue"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "100.00" in body and "was due on March 2, 2026" in body
    assert message["Message-ID"].endswith(f".reminder@{SMTP_FROM.split('@')[1]}>")
    assert message["Reply-To"] == "ada@example.com"  # the earliest owner: the profile names no e-mail
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"{invoice['number']}.pdf"
    assert attachment.get_content().startswith(b"%PDF")

    [listed] = await emails(http, ada.headers, invoice["id"])
    assert listed["kind"] == "reminder" and listed["days_after_due"] == 0 and listed["status"] == "sent"
    [event] = await reminder_events(http, ada.headers)
    assert event["data"]["object"]["id"] == invoice["id"]
    assert event["actor"] == {"type": "system", "id": None}

    clock.set(at(DUE + timedelta(days=6)))
    assert await run_pass(settings, worker) == 0
    clock.set(at(DUE + timedelta(days=7)))
    assert await run_pass(settings, worker) == 1
    assert await run_pass(settings, worker) == 0
    clock.set(at(DUE + timedelta(days=300)))
    assert await run_pass(settings, worker) == 0
    assert [d.message["Subject"] for d in mailbox.delivered][1] == "Second notice"
    sent = await reminder_emails(http, ada.headers, invoice["id"])
    assert sorted(e["days_after_due"] for e in sent) == [0, 7]
    assert len(await reminder_events(http, ada.headers)) == 2


async def test_an_invoice_email_is_listed_with_kind_invoice(http, ada, mailbox):
    invoice = await overdue(http, ada.headers)
    await email_invoice(http, ada.headers, invoice["id"])
    [listed] = await emails(http, ada.headers, invoice["id"])
    assert listed["kind"] == "invoice" and listed["days_after_due"] is None


async def test_when_several_rules_are_due_at_once_only_the_latest_goes_and_the_earlier_never(
    http, ada, settings, clock, worker, mailbox
):
    await set_rules(http, ada.headers, [{"days_after_due": d} for d in (1, 5, 10)])
    invoice = await overdue(http, ada.headers)
    clock.set(at(DUE + timedelta(days=12)))  # the worker was down: 1, 5 and 10 are all due
    assert await run_pass(settings, worker) == 1
    [only] = await reminder_emails(http, ada.headers, invoice["id"])
    assert only["days_after_due"] == 10
    for later in (13, 40, 365):
        clock.set(at(DUE + timedelta(days=later)))
        assert await run_pass(settings, worker) == 0
    assert len(mailbox.delivered) == 1


async def test_the_periodic_pass_is_registered_and_run_by_the_worker(http, ada, clock, worker, mailbox):
    await set_rules(http, ada.headers, [{"days_after_due": 2}])
    invoice = await overdue(http, ada.headers)
    clock.set(at(DUE + timedelta(days=2)))
    await worker.run_until_idle()  # the worker's first look runs every periodic task
    [sent] = await reminder_emails(http, ada.headers, invoice["id"])
    assert sent["status"] == "sent"
    assert len(mailbox.delivered) == 1


# ---------------------------------------------------------------- never for what is settled


async def test_never_for_a_paid_void_or_settled_invoice_but_for_a_partly_paid_one(
    http, ada, settings, clock, worker, mailbox
):
    await set_rules(http, ada.headers, [{"days_after_due": 1}])
    paid = await overdue(http, ada.headers)
    await add_payment(http, ada.headers, paid["id"], "100.00", paid_on="2026-03-01")
    void = await overdue(http, ada.headers)
    assert (await http.post(f"/api/invoices/{void['id']}/void", headers=ada.headers)).status_code == 200
    # Credited to zero: a credit note clears a sent invoice's amount due (section 22, built elsewhere).
    settled = await overdue(http, ada.headers)
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(settled["id"])}, {"$set": {"amount_due_cents": 0}}
    )
    partly = await overdue(http, ada.headers)
    await add_payment(http, ada.headers, partly["id"], "40.00", paid_on="2026-03-01")

    clock.set(at(DUE + timedelta(days=3)))
    assert await run_pass(settings, worker) == 1
    for invoice in (paid, void, settled):
        assert await emails(http, ada.headers, invoice["id"]) == []
    [sent] = await reminder_emails(http, ada.headers, partly["id"])
    assert sent["status"] == "sent"
    [delivered] = mailbox.delivered
    assert "60.00 is still open" in delivered.message.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.parametrize("settle", ["pay", "void"])
async def test_a_payment_or_void_that_lands_while_the_reminder_is_queued_stops_it(
    http, ada, settings, clock, worker, mailbox, settle
):
    await set_rules(http, ada.headers, [{"days_after_due": 0}])
    invoice = await overdue(http, ada.headers)
    clock.set(at(DUE))
    assert await reminders.remind(settings) == 1  # written and queued, not delivered yet
    [queued] = await reminder_emails(http, ada.headers, invoice["id"])
    assert queued["status"] == "queued"
    if settle == "pay":
        await add_payment(http, ada.headers, invoice["id"], "100.00")
    else:
        assert (
            await http.post(f"/api/invoices/{invoice['id']}/void", headers=ada.headers)
        ).status_code == 200

    await worker.run_until_idle()
    [stopped] = await reminder_emails(http, ada.headers, invoice["id"])
    assert stopped["status"] == "failed"
    assert stopped["last_error"].startswith(f"not sent: invoice {invoice['number']} was")
    assert mailbox.offered == []
    assert await reminder_events(http, ada.headers) == []


# ---------------------------------------------------------------- the organisation's time zone


@pytest.mark.parametrize(
    ("zone", "other"),
    [("Pacific/Auckland", "UTC"), ("America/New_York", "UTC"), ("UTC", "America/New_York")],
)
async def test_a_reminder_is_due_at_the_organisations_local_midnight(
    http, settings, clock, worker, mailbox, zone, other
):
    here = await register(http, "here@example.com", "Here")
    there = await register(http, "there@example.com", "There")
    await set_rules(http, here.headers, [{"days_after_due": 3}], time_zone=zone)
    await set_rules(http, there.headers, [{"days_after_due": 3}], time_zone=other)
    mine = await overdue(http, here.headers)
    theirs = await overdue(http, there.headers)
    midnight = local_midnight(DUE + timedelta(days=3), zone)

    clock.set(midnight - timedelta(milliseconds=1))
    await run_pass(settings, worker)
    assert await emails(http, here.headers, mine["id"]) == []

    clock.set(midnight)
    await run_pass(settings, worker)
    assert len(await reminder_emails(http, here.headers, mine["id"])) == 1
    # The other zone's midnight is hours away from this one: its invoice is not due yet, or was already.
    other_midnight = local_midnight(DUE + timedelta(days=3), other)
    expected = 1 if other_midnight <= midnight else 0
    assert len(await reminder_emails(http, there.headers, theirs["id"])) == expected


# ---------------------------------------------------------------- rules edited later


async def test_rules_edited_later_apply_from_then_on_and_never_resend_a_day(
    http, ada, settings, clock, worker, mailbox
):
    await set_rules(http, ada.headers, [{"days_after_due": 10}])
    invoice = await overdue(http, ada.headers)
    clock.set(at(DUE + timedelta(days=10)))
    assert await run_pass(settings, worker) == 1

    # An earlier day added later counts as done (a later reminder went); the same day edited is not sent again.
    await set_rules(http, ada.headers, [{"days_after_due": 5}, {"days_after_due": 10, "subject": "Edited"}])
    clock.set(at(DUE + timedelta(days=12)))
    assert await run_pass(settings, worker) == 0

    await set_rules(
        http, ada.headers, [{"days_after_due": 5}, {"days_after_due": 20, "subject": "Final notice"}]
    )
    clock.set(at(DUE + timedelta(days=19)))
    assert await run_pass(settings, worker) == 0
    clock.set(at(DUE + timedelta(days=20)))
    assert await run_pass(settings, worker) == 1
    assert [d.message["Subject"] for d in mailbox.delivered][-1] == "Final notice"
    sent = await reminder_emails(http, ada.headers, invoice["id"])
    assert sorted(e["days_after_due"] for e in sent) == [10, 20]

    # Rules removed: nothing more, even for a new invoice long overdue.
    await set_rules(http, ada.headers, [])
    fresh = await overdue(http, ada.headers)
    clock.set(at(DUE + timedelta(days=100)))
    assert await run_pass(settings, worker) == 0
    assert await emails(http, ada.headers, fresh["id"]) == []


# ---------------------------------------------------------------- the e-mail quota


async def test_a_reminder_over_the_daily_limit_stays_queued_naming_it(smtp_server, clock, mailbox):
    settings = replace(
        Settings.from_env(),
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.mailbox.port,
        smtp_starttls=False,
        smtp_from=SMTP_FROM,
        email_daily_limit=1,
    )
    async with serve(create_app(settings)) as http:
        ada = await register(http, "ada@example.com", "Ada")
        await set_rules(http, ada.headers, [{"days_after_due": 1}])
        invoice = await overdue(http, ada.headers)
        await email_invoice(http, ada.headers, invoice["id"])  # takes the day's one place
        worker = new_worker()
        await worker.run_until_idle()
        clock.set(at(DUE + timedelta(days=1)))
        assert await run_pass(settings, worker) == 1
        [held] = await reminder_emails(http, ada.headers, invoice["id"])
        assert held["status"] == "queued" and held["attempts"] == 0
        assert "EMAIL_DAILY_LIMIT" in held["last_error"]
        assert len(mailbox.delivered) == 1  # the invoice e-mail only


# ---------------------------------------------------------------- tenancy


async def test_an_organisations_rules_never_apply_to_another_organisations_invoices(
    http, ada, settings, clock, worker, mailbox
):
    bob = await register(http, "bob@example.com", "Bob")
    await set_rules(http, ada.headers, [{"days_after_due": 0}])
    bobs = await overdue(http, bob.headers)
    adas = await overdue(http, ada.headers)
    clock.set(at(DUE + timedelta(days=30)))
    assert await run_pass(settings, worker) == 1
    assert await emails(http, bob.headers, bobs["id"]) == []
    assert len(await reminder_emails(http, ada.headers, adas["id"])) == 1
    assert (await http.get(f"/api/invoices/{adas['id']}/emails", headers=bob.headers)).status_code == 404
    assert await reminder_events(http, bob.headers) == []


# ---------------------------------------------------------------- exactly once


async def test_two_passes_at_once_write_one_reminder_per_invoice(http, ada, settings, clock, worker, mailbox):
    await set_rules(http, ada.headers, [{"days_after_due": 0}, {"days_after_due": 4}])
    invoices = [await overdue(http, ada.headers) for _ in range(3)]
    clock.set(at(DUE + timedelta(days=5)))
    written = await asyncio.gather(*(reminders.remind(settings) for _ in range(3)))
    assert sum(written) == 3
    await worker.run_until_idle()
    for invoice in invoices:
        [one] = await reminder_emails(http, ada.headers, invoice["id"])
        assert one["days_after_due"] == 4 and one["status"] == "sent"
    assert len(mailbox.delivered) == 3
    assert len(await reminder_events(http, ada.headers)) == 3


async def test_a_second_write_of_the_same_rule_is_refused_by_the_unique_index(http, ada, settings, clock):
    await set_rules(http, ada.headers, [{"days_after_due": 0}])
    invoice = await overdue(http, ada.headers)
    organization = await organizations.books(ObjectId(ada.id))
    assert organization is not None
    rule = organization.business.reminders[0]
    first = await service.queue_reminder(settings, organization, ObjectId(invoice["id"]), rule)
    second = await service.queue_reminder(settings, organization, ObjectId(invoice["id"]), rule)
    assert first is not None and second is None
    assert await EmailRecord.get_motor_collection().count_documents({"kind": "reminder"}) == 1


async def test_a_crash_after_each_step_leaves_one_reminder_sent_and_one_event(
    http, ada, settings, clock, mailbox, fault: Fault
):
    """The process dies right after its k-th write, for each k of a pass and its delivery (the periodic
    tasks a new worker runs first included); the next process (leases expired, the e-mail recovery, the
    worker's recovery, another pass) finishes it: one reminder, sent, and one event. A death after the
    SMTP server took the message and before it was recorded sends it again, with the same Message-ID."""
    await set_rules(http, ada.headers, [{"days_after_due": 0}])
    clock.set(at(DUE))
    step = 1
    while True:
        invoice = await overdue(http, ada.headers)
        fault.arm(step)
        try:
            await run_pass(settings, new_worker())
        except Died:
            pass
        died = fault.dead
        fault.disarm()
        await _next_process(settings)

        [record] = (
            await EmailRecord.get_motor_collection()
            .find({"invoice_id": ObjectId(invoice["id"])})
            .to_list(None)
        )
        assert record["status"] == "sent", (step, record)
        copies = [d for d in mailbox.delivered if d.message["Message-ID"] == record["message_id"]]
        assert 1 <= len(copies) <= 2, step
        events = [
            e for e in await reminder_events(http, ada.headers) if e["data"]["object"]["id"] == invoice["id"]
        ]
        assert len(events) == 1, step
        if not died:
            break
        step += 1
    assert step > 8  # the pass and the delivery were walked write by write


async def _next_process(settings: Settings) -> None:
    """What a new process does about a dead one: its leases expire, the recoveries run, passes go on."""
    past = utc_now() - timedelta(seconds=1)
    jobs = Job.get_motor_collection()
    await jobs.update_many({"status": "running"}, {"$set": {"lease_until": past}})
    await jobs.update_many({"status": "pending"}, {"$set": {"run_at": past}})
    await PeriodicLease.get_motor_collection().delete_many({})
    await service.requeue_unenqueued()
    await recover(utc_now() + timedelta(hours=1))
    await run_pass(settings, new_worker())
    await recover(utc_now() + timedelta(hours=1))


# ---------------------------------------------------------------- cheap


async def test_a_pass_costs_the_same_few_queries_however_many_invoices_are_not_due(
    http, ada, settings, clock, worker, mailbox
):
    """Three reads (the organisations with rules, their invoices that may be due, those invoices'
    reminders so far) and then only the writes of what is due: the invoices not due yet, those of
    organisations without rules and the drafts add nothing, and a pass with nothing due is the three reads.
    That each read is served by an index is held by tests/system/test_query_indexes.py."""
    await set_rules(http, ada.headers, [{"days_after_due": 3}, {"days_after_due": 9}])
    bob = await register(http, "bob@example.com", "Bob")
    due = [await overdue(http, ada.headers) for _ in range(2)]
    clock.set(at(DUE + timedelta(days=3)))

    async def counted() -> list[str]:
        with store_ops.counting(), store_ops.tallied() as tally:
            await reminders.remind(settings)
        return tally.operations

    per_reminder = [
        "invoices.find_one",  # the invoice, read again when its reminder is written
        "users.find",  # the earliest owner, for Reply-To
        "clients.find_one",  # the recipient
        "invoice_emails.insert_one",  # the reminder: the commitment
        "jobs.insert_one",  # its delivery
        "invoice_emails.update_one",  # marked enqueued
    ]
    reads = ["organizations.find", "invoices.find", "invoice_emails.find"]
    assert sorted(await counted()) == sorted(reads + per_reminder * len(due))
    await worker.run_until_idle()
    assert sorted(await counted()) == sorted(reads)  # reminded already: nothing more

    for _ in range(15):  # not due for days yet, another organisation's, drafts
        await overdue(http, ada.headers, due=DUE + timedelta(days=30))
        await overdue(http, bob.headers)
        await create_invoice(http, ada.headers, issue_date="2026-01-01", due_date="2026-01-05")
    assert sorted(await counted()) == sorted(reads)


async def test_the_event_goes_to_a_webhook_subscribed_to_it(http, ada, settings, clock, worker, mailbox):
    receiver = await Receiver().start()
    try:
        await create_endpoint(http, ada.headers, receiver.url, ["invoice.reminder_sent"])
        await set_rules(http, ada.headers, [{"days_after_due": 0}])
        invoice = await overdue(http, ada.headers)
        clock.set(at(DUE))
        await run_pass(settings, worker)
        await fan_out()  # the periodic fan-out, as the worker runs it
        await worker.run_until_idle()
        [delivered] = receiver.requests
        event = json.loads(delivered.body)
        assert event["type"] == "invoice.reminder_sent"
        assert event["data"]["object"]["id"] == invoice["id"]
    finally:
        await receiver.stop()


async def test_a_payment_landing_while_the_pass_writes_the_reminder_stops_it_at_send_time(
    http, ada, settings, clock, worker, mailbox, monkeypatch
):
    """The pass read the invoice as unpaid; the payment lands before its reminder is written: the
    reminder is written and queued, and the delivery's re-check stops it."""
    await set_rules(http, ada.headers, [{"days_after_due": 0}])
    invoice = await overdue(http, ada.headers)
    clock.set(at(DUE))
    paid = run_competitor(
        monkeypatch,
        service,
        "_client_address",
        lambda: add_payment(http, ada.headers, invoice["id"], "100.00"),
    )
    assert await run_pass(settings, worker) == 1
    assert paid[0]["status"] == "paid"
    [stopped] = await reminder_emails(http, ada.headers, invoice["id"])
    assert stopped["status"] == "failed" and "was paid" in stopped["last_error"]
    assert mailbox.offered == []


async def test_a_worker_without_smtp_writes_no_reminder_until_one_with_it_runs(
    http, ada, settings, clock, worker, mailbox
):
    await set_rules(http, ada.headers, [{"days_after_due": 0}])
    invoice = await overdue(http, ada.headers)
    clock.set(at(DUE))
    assert await reminders.remind(replace(settings, smtp_host=None)) == 0
    assert await emails(http, ada.headers, invoice["id"]) == []
    assert await run_pass(settings, worker) == 1


async def test_a_client_without_an_email_gets_a_failed_reminder_that_says_why(
    http, ada, settings, clock, worker, mailbox
):
    await set_rules(http, ada.headers, [{"days_after_due": 0}], locale="de")
    client = await create_client(http, ada.headers)  # no e-mail
    invoice = await create_sent_invoice(
        http, ada.headers, client["id"], issue_date="2026-02-16", due_date=DUE.isoformat()
    )
    clock.set(at(DUE))
    assert await run_pass(settings, worker) == 1
    [failed] = await reminder_emails(http, ada.headers, invoice["id"])
    assert failed["status"] == "failed" and failed["to"] == []
    assert failed["last_error"] == "not sent: the client has no valid e-mail address"
    assert failed["subject"].startswith(f"Zahlungserinnerung: Rechnung {invoice['number']}")
    assert await run_pass(settings, worker) == 0  # the rule is done
    assert mailbox.offered == []
