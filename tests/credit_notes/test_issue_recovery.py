"""An issue of a credit note that dies after any of its writes is finished or undone by the worker's
recovery (API.md sections 14 and 22): nothing lost, nothing twice, no gap in the numbers, one event."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.credit_notes.models import CreditNote, CreditNoteCounter
from app.invoices.models import Invoice
from tests.conftest import register
from tests.credit_notes.factories import create_credit_note, credit, line
from tests.faults import Died, Fault, fault_fixture, lost_answer_fixture  # noqa: F401 (the fixtures)
from tests.invoices.factories import create_sent_invoice
from tests.invoices.test_send_recovery import _recover

MAX_STEPS = 40


async def _events(client: Any, headers: dict[str, str], types: str) -> list[dict[str, Any]]:
    body = (await client.get("/api/events", params={"types": types, "limit": 100}, headers=headers)).json()
    return body["items"]  # type: ignore[no-any-return]


async def test_an_issue_that_dies_after_any_write_is_finished_or_undone(client: Any, fault: Fault) -> None:
    finished = undone = 0  # the insert is the first write: from there on the recovery finishes it
    for step in range(1, MAX_STEPS):
        account = await register(client, f"{ObjectId()}@example.com")
        invoice = await create_sent_invoice(client, account.headers, tax_rate="20")
        fault.arm(step)
        try:
            response = await credit(client, account.headers, invoice["id"], lines=[line("10.00")])
            died = False
        except Died:
            died = True
        fault.disarm()
        await _recover()

        where = f"after dying at write {step}"
        owner = ObjectId(account.id)
        notes = await CreditNote.get_motor_collection().find({"owner_id": owner}).to_list(None)
        stored = await Invoice.get_motor_collection().find_one({"_id": ObjectId(invoice["id"])})
        counter = await CreditNoteCounter.get_motor_collection().find_one({"owner_id": owner})
        assert counter is None or counter["holder"] is None, where
        if notes:
            [note] = notes
            finished += 1
            assert note["number"] == "CN-0001" and note.get("document"), where
            assert not note.get("issuing_at"), where
            assert stored["credit_note_ids"] == [note["_id"]], where
            assert stored["amount_credited_cents"] == 1200 and stored["amount_due_cents"] == 10800, where
            got = await client.get(f"/api/credit-notes/{note['_id']}", headers=account.headers)
            assert got.status_code == 200 and got.json()["total"] == "12.00", where
            pdf = await client.get(f"/api/credit-notes/{note['_id']}/pdf", headers=account.headers)
            assert pdf.status_code == 200 and pdf.headers["etag"] == f'"{note["document"]["sha256"]}"', where
        else:
            undone += 1
            assert stored.get("credit_note_ids", []) == [] and stored.get("amount_credited_cents", 0) == 0, (
                where
            )
            assert (await client.get("/api/credit-notes", headers=account.headers)).json()["total"] == 0, (
                where
            )
        created = await _events(client, account.headers, "credit_note.created")
        assert [e["data"]["object"]["id"] for e in created] == [str(n["_id"]) for n in notes], where
        # the next note takes the next number: no gap, none twice
        following = await create_credit_note(client, account.headers, invoice["id"], lines=[line("1.00")])
        assert following["number"] == f"CN-{len(notes) + 1:04d}", where
        if not died:
            assert response.status_code == 201, where
            break
    else:
        raise AssertionError("the issue never completed")
    # died after the insert, the credit, the counter's hold, the number, the release, the document, ...
    assert finished >= 6 and undone == 0, (finished, undone)


async def test_a_stuck_note_its_invoice_no_longer_allows_is_undone_and_uses_no_number(
    client: Any, fault: Fault
) -> None:
    """Dies right after the insert; meanwhile another note credits the invoice in full. The recovery cannot
    apply the stuck note (it would pass the invoice): it deletes it, and no number is used."""
    account = await register(client, f"{ObjectId()}@example.com")
    invoice = await create_sent_invoice(client, account.headers)
    fault.arm(1)
    try:
        await credit(client, account.headers, invoice["id"], lines=[line("60.00")])
    except Died:
        pass
    fault.disarm()
    [stuck] = await CreditNote.get_motor_collection().find({"owner_id": ObjectId(account.id)}).to_list(None)
    assert stuck["number"] is None and stuck["issuing_at"]
    listed = await client.get("/api/credit-notes", headers=account.headers)
    assert listed.json()["total"] == 0  # being issued: shown nowhere
    assert (await client.get(f"/api/credit-notes/{stuck['_id']}", headers=account.headers)).status_code == 404
    full = await create_credit_note(client, account.headers, invoice["id"])
    assert full["number"] == "CN-0001" and full["total"] == "100.00"
    await _recover()
    assert await CreditNote.get_motor_collection().find_one({"_id": stuck["_id"]}) is None
    stored = await Invoice.get_motor_collection().find_one({"_id": ObjectId(invoice["id"])})
    assert stored["credit_note_ids"] == [ObjectId(full["id"])] and stored["amount_credited_cents"] == 10000
    other = await create_sent_invoice(client, account.headers)
    following = await create_credit_note(client, account.headers, other["id"], lines=[line("1.00")])
    assert following["number"] == "CN-0002"


async def test_a_retry_after_any_lost_answer_gives_one_note_credited_once(
    client: Any, lost_answer: Any
) -> None:
    """Each write of an issue in turn commits and then its answer is lost (a 503): the retry with the same
    Idempotency-Key finishes that very note; the invoice is credited once and one number is used."""
    for step in range(1, 12):
        account = await register(client, f"{ObjectId()}@example.com")
        invoice = await create_sent_invoice(client, account.headers)
        headers = {**account.headers, "Idempotency-Key": f"credit-{step}"}
        body = {"reason": "Billed twice", "lines": [line("10.00")]}
        lost_answer.arm(step)
        first = await client.post(f"/api/invoices/{invoice['id']}/credit-notes", json=body, headers=headers)
        lost_answer.disarm()
        retry = await client.post(f"/api/invoices/{invoice['id']}/credit-notes", json=body, headers=headers)
        where = f"answer lost at write {step}"
        assert retry.status_code == 201, (where, retry.text)
        if first.status_code == 201:
            assert retry.json() == first.json(), where
        notes = await CreditNote.get_motor_collection().find({"owner_id": ObjectId(account.id)}).to_list(None)
        assert [str(n["_id"]) for n in notes] == [retry.json()["id"]], where
        assert retry.json()["number"] == "CN-0001", where
        stored = await Invoice.get_motor_collection().find_one({"_id": ObjectId(invoice["id"])})
        assert stored["amount_credited_cents"] == 1000 and len(stored["credit_note_ids"]) == 1, where
        if not lost_answer.fired:
            break
