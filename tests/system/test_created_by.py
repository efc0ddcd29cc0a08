"""Every stored business document records `created_by` = {type, id} (API.md section 19): the user whose
request created it, the system for what the worker creates, null on documents stored before it existed."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.db.repository import OwnedDocument
from app.invoices.models import Invoice
from app.main import DOCUMENT_MODELS
from tests.conftest import Account, register, serve
from tests.contracts.factories import create_contract
from tests.invoices.factories import create_invoice, send_invoice
from tests.jobs import kept_registry, new_worker
from tests.projects.factories import create_project
from tests.recurring.helpers import create_schedule
from tests.resumes.factories import create_resume
from tests.time_entries.factories import create_time_entry, start_timer

# Made by the worker, not by a request.
BY_THE_SYSTEM = {"webhook_deliveries"}


async def _everything(http: Any, account: Account) -> None:
    h = account.headers
    hook = {"url": "http://127.0.0.1:9/hooks", "events": ["*"]}  # first: it receives what follows
    assert (await http.post("/api/webhook-endpoints", json=hook, headers=h)).status_code == 201
    project = await create_project(http, h)
    await create_time_entry(http, h, project["id"])
    await start_timer(http, h, project["id"])
    invoice = await create_invoice(http, h, project["client_id"])
    await send_invoice(http, h, invoice["id"])  # stores its document
    note = {"reason": "Billed twice", "lines": [{"description": "x", "quantity": "1", "unit_price": "1"}]}
    credited = await http.post(f"/api/invoices/{invoice['id']}/credit-notes", json=note, headers=h)
    assert credited.status_code == 201, credited.text
    emailed = await http.post(
        f"/api/invoices/{invoice['id']}/email", json={"to": ["a@example.com"]}, headers=h
    )
    assert emailed.status_code == 202, emailed.text
    await create_contract(http, h, project["client_id"])
    await create_schedule(http, h, project["client_id"], start_date="2900-01-01")
    await create_resume(http, h)
    invited = await http.post(
        "/api/organization/invitations", json={"email": "grace@example.com", "role": "member"}, headers=h
    )
    assert invited.status_code == 201, invited.text
    key = await http.post("/api/organization/api-keys", json={"name": "CI", "scopes": ["*"]}, headers=h)
    assert key.status_code == 201, key.text


async def test_every_created_document_records_who_created_it(make_app: Any) -> None:
    app = make_app(smtp_host="127.0.0.1", smtp_port=9, smtp_from="invoices@orbix.example")
    with kept_registry():
        async with serve(app) as http:
            ada = await register(http, "ada@example.com", "Ada")
            await _everything(http, ada)
            await new_worker().run_until_idle()  # the fan-out makes the webhook deliveries

    owned = [model for model in DOCUMENT_MODELS if issubclass(model, OwnedDocument)]
    seen = set()
    for model in owned:
        name = model.get_settings().name
        for raw in await model.get_motor_collection().find({"owner_id": ObjectId(ada.id)}).to_list(None):
            seen.add(name)
            expected = (
                {"type": "system", "id": None}
                if name in BY_THE_SYSTEM
                else {"type": "user", "id": ObjectId(ada.id)}
            )
            assert raw.get("created_by") == expected, (name, raw.get("created_by"))
    assert seen == {model.get_settings().name for model in owned}, "a kind of document was not created"


async def test_an_invoice_shows_who_created_it_and_null_when_stored_before_it_was_recorded(
    client: Any, user: Account
) -> None:
    invoice = await create_invoice(client, user.headers)
    assert invoice["created_by"] == {"type": "user", "id": user.id}
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(invoice["id"])}, {"$unset": {"created_by": ""}}
    )
    fetched = await client.get(f"/api/invoices/{invoice['id']}", headers=user.headers)
    assert fetched.json()["created_by"] is None
    listed = await client.get("/api/invoices", headers=user.headers)
    assert listed.json()["items"][0]["created_by"] is None
