"""Invoice numbers are unique per user (issue 8, finding 1): a prefix may not end with a digit, a stored one
that does is migrated, and a unique index on (owner_id, number) backs the rule."""

from __future__ import annotations

import logging

import mongomock_motor
import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from app.invoices import numbering
from app.invoices.models import Invoice, InvoiceCounter
from app.main import prepare_stored_data
from app.organizations.models import Organization
from tests.conftest import Account, assert_problem
from tests.invoices.factories import create_sent_invoice


async def _set_prefix(client, auth, prefix: str):
    return await client.patch("/api/auth/me", json={"business": {"invoice_prefix": prefix}}, headers=auth)


@pytest.mark.parametrize("prefix", ["X1", "INV-2026", "0", "A/9"])
async def test_a_prefix_ending_with_a_digit_is_refused(client, auth, prefix):
    response = await _set_prefix(client, auth, prefix)
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "business.invoice_prefix"


@pytest.mark.parametrize("prefix", ["", "X", "X1-", "2026/", "A#", "a_"])
async def test_a_prefix_ending_otherwise_is_accepted(client, auth, prefix):
    response = await _set_prefix(client, auth, prefix)
    assert response.status_code == 200, response.text
    assert response.json()["business"]["invoice_prefix"] == prefix


async def test_prefix_x1_and_x_can_no_longer_make_one_number(client, user: Account):
    """The attack: `X1` + 0001 and `X` + 10001. X1 is refused; X1- gives X1-0001, never X10001."""
    assert (await _set_prefix(client, user.headers, "X1")).status_code == 400
    assert (await _set_prefix(client, user.headers, "X1-")).status_code == 200
    first = await create_sent_invoice(client, user.headers)
    assert first["number"] == "X1-0001"
    await InvoiceCounter.get_motor_collection().update_one(
        {"owner_id": ObjectId(user.id)}, {"$set": {"seq": 10000}}
    )
    await _set_prefix(client, user.headers, "X")
    assert (await create_sent_invoice(client, user.headers))["number"] == "X10001"
    found = await client.get("/api/invoices", params={"q": "X10001"}, headers=user.headers)
    assert found.json()["total"] == 1


async def test_a_stored_prefix_ending_with_a_digit_is_migrated_at_start_up(client, user: Account):
    organizations = Organization.get_motor_collection()  # the personal organisation: the user's id
    await organizations.update_one({"_id": ObjectId(user.id)}, {"$set": {"business.invoice_prefix": "X1"}})
    await prepare_stored_data()  # what every start runs
    me = await client.get("/api/auth/me", headers=user.headers)
    assert me.json()["business"]["invoice_prefix"] == "X1-"
    assert (await create_sent_invoice(client, user.headers))["number"] == "X1-0001"
    await prepare_stored_data()  # idempotent: no second dash
    me = await client.get("/api/auth/me", headers=user.headers)
    assert me.json()["business"]["invoice_prefix"] == "X1-"


async def test_the_unique_index_refuses_a_second_invoice_with_a_stored_number(client, user: Account):
    sent = await create_sent_invoice(client, user.headers)
    invoices = Invoice.get_motor_collection()
    stored = await invoices.find_one({"_id": ObjectId(sent["id"])})
    # Each copy takes its own id's recurring slot (a copy of the slot would be the duplicate refused).
    twin_id = ObjectId()
    twin = {
        **stored,
        "_id": twin_id,
        "recurring_slot": f"own:{twin_id}",
        "number_slot": "seq:999",
        "number_seq": 999,
    }
    with pytest.raises(DuplicateKeyError):
        await invoices.insert_one(twin)
    # Drafts (number null) are outside the partial index: any number of them.
    draft_ids = [ObjectId() for _ in range(3)]
    drafts = [
        {**stored, "_id": i, "recurring_slot": f"own:{i}", "number": None, "number_slot": f"draft:test-{i}"}
        for i in draft_ids
    ]
    for draft in drafts:
        await invoices.insert_one(draft)
    # Another owner may use the same number.
    await invoices.insert_one({**twin, "owner_id": ObjectId()})


async def test_start_up_reports_stored_duplicates_in_one_line_and_keeps_serving(
    client, user: Account, caplog
):
    sent = await create_sent_invoice(client, user.headers)
    invoices = Invoice.get_motor_collection()
    stored = await invoices.find_one({"_id": ObjectId(sent["id"])})
    await invoices.drop_indexes()  # a database from before the rule: no unique index yet
    await invoices.delete_many({"number": None})
    await invoices.insert_one({**stored, "_id": ObjectId(), "number_slot": "seq:2", "number_seq": 2})
    with caplog.at_level(logging.ERROR, logger="orbix.invoices"):
        assert await numbering.ensure_unique_numbers() is False
    lines = [r for r in caplog.records if r.name == "orbix.invoices"]
    assert len(lines) == 1
    assert f"{user.id}/INV-0001 x2" in lines[0].getMessage()
    listed = await client.get("/api/invoices", headers=user.headers)
    assert listed.status_code == 200 and listed.json()["total"] == 2
    await invoices.delete_one({"number_seq": 2})
    assert await numbering.ensure_unique_numbers() is True
    indexes = await invoices.index_information()
    assert indexes["owner_id_number_unique"]["partialFilterExpression"] == {"number": {"$type": "string"}}


async def test_once_the_number_index_exists_a_start_only_lists_the_indexes(client, monkeypatch):
    """It runs at every start: with the index in place it builds nothing (issue 24)."""
    builds = []
    create_index = mongomock_motor.AsyncMongoMockCollection.create_index

    async def counted(self, *args, **kwargs):
        builds.append(args)
        return await create_index(self, *args, **kwargs)

    monkeypatch.setattr(mongomock_motor.AsyncMongoMockCollection, "create_index", counted)
    assert await numbering.ensure_unique_numbers() is True
    assert builds == []
