"""Exactly one invoice per schedule and period (API.md section 23): a unique index on the invoices collection
(recurring_invoice_id, period.start), several workers and passes at once, and a run that dies after any of
its writes and is then recovered (the worker's recovery, and the run's job taken again)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from app.config import Settings
from app.core.clock import using_clock
from app.invoices.models import Invoice, recurring_slot
from app.recovery import recover
from app.recurring import jobs
from tests.clients.factories import create_client
from tests.events.helpers import poll_all
from tests.faults import Died, Fault, fault_fixture  # noqa: F401 (the `fault` fixture)
from tests.jobs import new_worker
from tests.recurring.helpers import clock_at, create_schedule, get_schedule, invoices_of, run_worker

MAX_STEPS = 60


def _numbers(invoices: list[dict[str, Any]]) -> list[str]:
    return sorted(i["number"] for i in invoices if i["number"] is not None)


async def _all_invoices(http: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await http.get("/api/invoices", params={"limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_the_unique_index_refuses_a_second_invoice_for_a_period_and_leaves_others_alone(client, auth):
    acme = await create_client(client, auth)
    for _ in range(2):  # invoices made by hand each take the slot of their own id
        response = await client.post(
            "/api/invoices", json={"client_id": acme["id"], "lines": []}, headers=auth
        )
        assert response.status_code == 201
        raw = await Invoice.get_motor_collection().find_one({"_id": ObjectId(response.json()["id"])})
        assert raw["recurring_slot"] == f"own:{response.json()['id']}"
    collection = Invoice.get_motor_collection()
    stored = await collection.find_one({})
    legacy = {key: value for key, value in stored.items() if key != "recurring_slot"}
    for number in range(2):  # stored before section 23: no slot at all, never a collision
        await collection.insert_one({**legacy, "_id": ObjectId(), "number_slot": f"draft:legacy{number}"})
    schedule_id = ObjectId()
    for number, start in enumerate([date(2027, 1, 31), date(2027, 2, 28)]):
        slot = recurring_slot(schedule_id, start)
        await collection.insert_one(
            {**stored, "_id": ObjectId(), "number_slot": f"draft:{number}", "recurring_slot": slot}
        )
    twin = {
        **stored,
        "_id": ObjectId(),
        "number_slot": "draft:x",
        "recurring_slot": recurring_slot(schedule_id, date(2027, 1, 31)),
    }
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one(twin)


async def test_several_workers_and_passes_at_once_make_one_invoice_per_period(
    client, auth, settings: Settings
):
    with using_clock(clock_at("2027-01-10T12:00")) as business_clock:
        made = await create_schedule(client, auth, start_date="2027-01-10", frequency="weekly", send="send")
        business_clock.set(clock_at("2027-01-24T00:30").moment)  # three runs due: 10, 17 and 24 January
        # The personal organisation's id is its user's (API.md section 19).
        payload = {"schedule_id": made["id"], "owner_id": made["created_by"]["id"]}
        await asyncio.gather(
            *(jobs.run_schedule(settings, payload) for _ in range(3)),
            *(run_worker(new_worker()) for _ in range(3)),
            *(jobs.schedule_due_runs() for _ in range(3)),
        )
        await run_worker()
    invoices = await invoices_of(client, auth, made["id"])
    assert [i["issue_date"] for i in invoices] == ["2027-01-10", "2027-01-17", "2027-01-24"]
    assert _numbers(invoices) == ["INV-0001", "INV-0002", "INV-0003"]
    events = await poll_all(client, auth)
    for kind in ("invoice.created", "invoice.sent"):
        assert sorted(e["data"]["object"]["id"] for e in events if e["type"] == kind) == sorted(
            i["id"] for i in invoices
        ), kind
    assert (await get_schedule(client, auth, made["id"]))["next_run_on"] == "2027-01-31"


async def test_a_pause_while_a_run_makes_its_invoice_keeps_the_schedule_paused(
    client, auth, settings, monkeypatch
):
    from app.invoices import service as invoices_service
    from app.recurring.models import RecurringInvoice
    from tests.races import run_competitor

    with using_clock(clock_at("2027-01-10T12:00")):
        made = await create_schedule(client, auth, start_date="2027-01-10")
        path = f"/api/recurring-invoices/{made['id']}/pause"
        paused = run_competitor(
            monkeypatch,
            invoices_service,
            "create_recurring_invoice",
            lambda: client.post(path, headers=auth),
            before=False,
        )
        payload = {"schedule_id": made["id"], "owner_id": made["created_by"]["id"]}
        await jobs.run_schedule(settings, payload)
        assert paused[0].status_code == 200
        schedule = await get_schedule(client, auth, made["id"])
        (invoice,) = await invoices_of(client, auth, made["id"])
        # The run made its period and moved on; the pause stands, and nothing is due while it does.
        assert (schedule["status"], schedule["next_run_on"]) == ("paused", "2027-02-10")
        assert schedule["last_invoice_id"] == invoice["id"]
        raw = await RecurringInvoice.get_motor_collection().find_one({"_id": ObjectId(made["id"])})
        assert raw["due_at"] is None
        resumed = await client.post(f"/api/recurring-invoices/{made['id']}/resume", headers=auth)
        assert resumed.json()["next_run_on"] == "2027-02-10"


@pytest.mark.parametrize("send", ["draft", "send"])
async def test_a_run_that_dies_after_any_write_leaves_exactly_one_correct_invoice(
    client: Any, auth: dict[str, str], settings: Settings, fault: Fault, send: str
) -> None:
    """Dies after write 1, 2, … of a run (the handler of its job); the worker's recovery runs, and the run's
    job is taken again (the next pass queues it: the schedule is still due). One invoice per period, sent
    ones numbered once and without a gap, each with its document and its events once."""
    owner_id = (await client.get("/api/auth/me", headers=auth)).json()["id"]  # its personal organisation
    acme = await create_client(client, auth)
    cut_short = 0
    made_ids: list[str] = []
    with using_clock(clock_at("2027-01-10T12:00")):
        for step in range(1, MAX_STEPS):
            made = await create_schedule(client, auth, acme["id"], start_date="2027-01-10", send=send)
            made_ids.append(made["id"])
            fault.arm(step)
            try:
                await jobs.run_schedule(settings, {"schedule_id": made["id"], "owner_id": owner_id})
                died = False
            except Died:
                died = True
                cut_short += 1
            fault.disarm()
            await recover(datetime.now(UTC) + timedelta(hours=1))  # everything counts as stuck
            await run_worker()

            where = f"after dying at write {step}"
            (invoice,) = await invoices_of(client, auth, made["id"])
            assert invoice["period"] == {"start": "2027-01-10", "end": "2027-02-09"}, where
            schedule = await get_schedule(client, auth, made["id"])
            assert (schedule["next_run_on"], schedule["last_invoice_id"]) == ("2027-02-10", invoice["id"]), (
                where
            )
            if send == "send":
                assert invoice["status"] == "sent" and invoice["document"] is not None, where
                numbers = _numbers(await _all_invoices(client, auth))
                assert numbers == [f"INV-{n:04d}" for n in range(1, len(made_ids) + 1)], where
            else:
                assert (invoice["status"], invoice["number"]) == ("draft", None), where
            if not died:
                break
        else:
            raise AssertionError("the run never completed")
    assert cut_short >= 3
    events = await poll_all(client, auth)
    invoice_ids = [(await invoices_of(client, auth, schedule_id))[0]["id"] for schedule_id in made_ids]
    for kind in ("invoice.created", "invoice.sent") if send == "send" else ("invoice.created",):
        assert sorted(e["data"]["object"]["id"] for e in events if e["type"] == kind) == sorted(
            invoice_ids
        ), kind


async def test_a_scheduled_e_mail_goes_once_and_counts_in_the_daily_limit(make_app, smtp_server):
    from tests.conftest import register, serve
    from tests.mail.conftest import SMTP_FROM

    mailbox = smtp_server.start()
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_starttls=False,
        smtp_from=SMTP_FROM,
        smtp_timeout_seconds=5.0,
        email_daily_limit=2,
    )
    async with serve(app) as http:
        ada = await register(http, "ada@example.com", "Ada Lovelace")
        with using_clock(clock_at("2027-01-10T12:00")) as business_clock:
            made = await create_schedule(
                http, ada.headers, start_date="2027-01-10", frequency="weekly", send="send_and_email"
            )
            business_clock.set(clock_at("2027-01-24T00:30").moment)  # three runs, three e-mails, limit 2
            await run_worker()
            await run_worker()
        invoices = await invoices_of(http, ada.headers, made["id"])
        assert len(invoices) == 3 and all(i["status"] == "sent" for i in invoices)
        records = []
        for invoice in invoices:
            listed = await http.get(f"/api/invoices/{invoice['id']}/emails", headers=ada.headers)
            assert listed.status_code == 200, listed.text
            (record,) = listed.json()["items"]
            assert record["to"] == ["billing@acme.example"]
            records.append(record)
        assert [r["status"] for r in records] == ["sent", "sent", "queued"]
        assert "EMAIL_DAILY_LIMIT" in records[2]["last_error"]
        assert len(mailbox.delivered) == 2
        assert sorted(d.message["Subject"] for d in mailbox.delivered) == [
            "Invoice INV-0001 from Ada Lovelace",
            "Invoice INV-0002 from Ada Lovelace",
        ]
        assert [d.rcpt_tos for d in mailbox.delivered] == [["billing@acme.example"]] * 2


async def test_a_client_without_an_e_mail_address_pauses_an_e_mailing_schedule(make_app, smtp_server):
    from tests.conftest import register, serve

    mailbox = smtp_server.start()
    app = make_app(
        smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_starttls=False, smtp_from="i@orbix.example"
    )
    async with serve(app) as http:
        ada = await register(http, "ada@example.com", "Ada Lovelace")
        acme = await create_client(http, ada.headers)  # no e-mail address
        with using_clock(clock_at("2027-01-10T12:00")):
            made = await create_schedule(
                http, ada.headers, acme["id"], start_date="2027-01-10", send="send_and_email"
            )
            await run_worker()
        paused = await get_schedule(http, ada.headers, made["id"])
        assert paused["status"] == "paused" and "e-mail address" in paused["paused_reason"]
        (invoice,) = await invoices_of(http, ada.headers, made["id"])
        assert invoice["status"] == "sent"  # sent; only its e-mail could not go
        assert mailbox.delivered == []
