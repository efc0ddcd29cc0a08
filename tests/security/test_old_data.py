"""Old data stays readable (issue 8, finding 11): every rule added to input tightens input only. A value stored
before a rule existed is read back as stored, in single reads and in lists, never re-validated into a 500."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import ObjectId

from app.clients.models import Client
from app.contracts.models import Contract
from app.invoices.models import Invoice
from app.organizations.models import Organization
from app.time_entries.models import TimeEntry
from tests.security.world import World

# What the rules of issue 8 (and address countries) refuse today, as older versions stored it.
OLD_TEXT = "Acme\x00 \u202eGmbH\u200b"
OLD_ADDRESS = {
    "line1": "x" * 300,
    "line2": "\x1b[31mred",
    "city": "Köln",
    "state": None,
    "postal_code": "p" * 40,
    "country": "Germany",
}


async def _set(model, raw_id: str, fields: dict) -> None:
    result = await model.get_motor_collection().update_one({"_id": ObjectId(raw_id)}, {"$set": fields})
    assert result.matched_count == 1


async def _read(client, user, path: str) -> dict:
    response = await client.get(path, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_stored_values_from_before_the_rules_are_returned_as_stored(client, user):
    world = World(client, user.headers)
    ids = await world.everything()
    await _set(
        Organization,  # the personal organisation: the user's id
        user.id,
        {
            "business.address": OLD_ADDRESS,
            "business.invoice_prefix": "X1",
            "business.default_currency": "ZZZ",
        },
    )
    await _set(
        Client,
        ids["clients"],
        {
            "name": OLD_TEXT,
            "email": "Not An Email",
            "currency": "ZZZ",
            "notes": "a\r\nb",
            "address": OLD_ADDRESS,
        },
    )
    await _set(Contract, ids["contracts"], {"title": OLD_TEXT, "start_date": datetime(1, 1, 1, tzinfo=UTC)})
    await _set(
        Invoice, ids["invoices"], {"notes": OLD_TEXT, "currency": "ZZZ", "lines.0.description": OLD_TEXT}
    )
    await _set(TimeEntry, ids["time-entries"], {"description": OLD_TEXT})

    me = await _read(client, user, "/api/auth/me")
    assert me["business"]["address"] == OLD_ADDRESS
    assert me["business"]["invoice_prefix"] == "X1"
    assert me["business"]["default_currency"] == "ZZZ"

    for path in (f"/api/clients/{ids['clients']}", "/api/clients"):
        body = await _read(client, user, path)
        stored = body["items"][0] if "items" in body else body
        assert stored["name"] == OLD_TEXT
        assert (stored["email"], stored["currency"], stored["notes"]) == ("Not An Email", "ZZZ", "a\r\nb")
        assert stored["address"] == OLD_ADDRESS

    for path in (f"/api/contracts/{ids['contracts']}", "/api/contracts"):
        body = await _read(client, user, path)
        stored = body["items"][0] if "items" in body else body
        assert (stored["title"], stored["start_date"]) == (OLD_TEXT, "0001-01-01")

    for path in (f"/api/invoices/{ids['invoices']}", "/api/invoices"):
        body = await _read(client, user, path)
        stored = body["items"][0] if "items" in body else body
        assert (stored["notes"], stored["currency"]) == (OLD_TEXT, "ZZZ")
        assert stored["lines"][0]["description"] == OLD_TEXT

    entry = await _read(client, user, f"/api/time-entries/{ids['time-entries']}")
    assert entry["description"] == OLD_TEXT


async def test_a_partial_update_of_old_data_keeps_what_it_does_not_touch(client, user):
    client_id = await World(client, user.headers).id("clients")
    await _set(Client, client_id, {"address": OLD_ADDRESS, "currency": "ZZZ"})
    response = await client.patch(f"/api/clients/{client_id}", json={"name": "Acme AG"}, headers=user.headers)
    assert response.status_code == 200, response.text
    assert (response.json()["address"], response.json()["currency"]) == (OLD_ADDRESS, "ZZZ")
