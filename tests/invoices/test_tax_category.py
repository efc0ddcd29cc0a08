"""API.md section 8: tax_category (EN 16931 BT-151) with its rate and exemption-reason rules."""

from __future__ import annotations

import pytest
from bson import ObjectId

from app.invoices.models import Invoice
from tests.clients.factories import create_client
from tests.conftest import assert_problem
from tests.invoices.factories import create_invoice


@pytest.mark.parametrize(
    ("fields", "category"),
    [({"tax_rate": "19"}, "S"), ({"tax_rate": "0"}, "E"), ({}, "E")],
)
async def test_category_defaults_from_the_rate(client, auth, fields, category):
    invoice = await create_invoice(client, auth, **fields)
    assert invoice["tax_category"] == category and invoice["tax_exemption_reason"] is None


@pytest.mark.parametrize(
    "fields",
    [
        {"tax_category": "Z", "tax_rate": "0"},
        {"tax_category": "E", "tax_rate": "0", "tax_exemption_reason": "Exempt under Article 132"},
        {"tax_category": "AE", "tax_rate": "0", "tax_exemption_reason": "Reverse charge"},
        {"tax_category": "G", "tax_rate": "0", "tax_exemption_reason": "Export outside the EU"},
        {"tax_category": "O", "tax_rate": "0", "tax_exemption_reason": "Not subject to VAT"},
        {"tax_category": "S", "tax_rate": "8.875"},
    ],
)
async def test_consistent_categories_are_accepted(client, auth, fields):
    invoice = await create_invoice(client, auth, **fields)
    assert invoice["tax_category"] == fields["tax_category"]
    assert invoice["tax_exemption_reason"] == fields.get("tax_exemption_reason")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tax_category": "S", "tax_rate": "0"}, "tax_category"),
        ({"tax_category": "Z", "tax_rate": "7"}, "tax_rate"),
        ({"tax_category": "E", "tax_rate": "19"}, "tax_rate"),
        ({"tax_category": "AE", "tax_rate": "1"}, "tax_rate"),
        ({"tax_category": "S", "tax_rate": "19", "tax_exemption_reason": "x"}, "tax_exemption_reason"),
        ({"tax_category": "Z", "tax_rate": "0", "tax_exemption_reason": "x"}, "tax_exemption_reason"),
        ({"tax_category": "K", "tax_rate": "0"}, "tax_category"),
        ({"tax_category": "E", "tax_rate": "0", "tax_exemption_reason": "x" * 301}, "tax_exemption_reason"),
    ],
)
async def test_contradictions_are_400_at_create(client, auth, fields, field):
    customer = await create_client(client, auth)
    response = await client.post("/api/invoices", json={"client_id": customer["id"], **fields}, headers=auth)
    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["detail"]


async def test_patch_of_the_rate_alone_moves_between_the_defaults(client, auth):
    draft = await create_invoice(client, auth, tax_rate="0")
    url = f"/api/invoices/{draft['id']}"
    taxed = await client.patch(url, json={"tax_rate": "19"}, headers=auth)
    assert taxed.status_code == 200 and taxed.json()["tax_category"] == "S"
    untaxed = await client.patch(url, json={"tax_rate": "0"}, headers=auth)
    assert untaxed.status_code == 200 and untaxed.json()["tax_category"] == "E"


async def test_patch_checks_the_merged_category_rate_and_reason(client, auth):
    draft = await create_invoice(client, auth, tax_category="Z", tax_rate="0")
    url = f"/api/invoices/{draft['id']}"
    # A category chosen on purpose stays: the rate alone contradicts it, 400, the draft untouched.
    assert_problem(await client.patch(url, json={"tax_rate": "19"}, headers=auth), 400, "validation_error")
    assert (await client.get(url, headers=auth)).json()["tax_rate"] == "0"
    moved = await client.patch(
        url, json={"tax_category": "E", "tax_exemption_reason": "§ 4 Nr. 14 UStG"}, headers=auth
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["tax_category"] == "E" and moved.json()["tax_exemption_reason"] == "§ 4 Nr. 14 UStG"
    # To S the stored reason must go in the same PATCH (S refuses a reason).
    back = await client.patch(url, json={"tax_rate": "19", "tax_category": "S"}, headers=auth)
    assert_problem(back, 400, "validation_error")
    cleared = await client.patch(
        url, json={"tax_rate": "19", "tax_category": "S", "tax_exemption_reason": None}, headers=auth
    )
    assert cleared.status_code == 200 and cleared.json()["tax_exemption_reason"] is None


async def test_invoices_stored_without_a_category_read_as_the_rate_default(client, auth):
    draft = await create_invoice(client, auth, tax_rate="20")
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(draft["id"])}, {"$unset": {"tax_category": "", "tax_exemption_reason": ""}}
    )
    read = await client.get(f"/api/invoices/{draft['id']}", headers=auth)
    assert read.status_code == 200 and read.json()["tax_category"] == "S"
